// Dims the date-time fields of the trigger form unless "A date and time" is
// chosen, and chooses it when the user types into those fields.
(function () {
  "use strict";

  var form = document.querySelector(".trigger-form");
  if (!form) {
    return;
  }
  var localChoice = document.getElementById("pivot-local-choice");
  var localFields = document.getElementById("pivot-local-fields");

  function update() {
    localFields.classList.toggle("is-inactive", !localChoice.checked);
  }

  form.addEventListener("change", function (event) {
    if (localFields.contains(event.target)) {
      localChoice.checked = true;
    }
    update();
  });
  localFields.addEventListener("input", function () {
    localChoice.checked = true;
    update();
  });
  update();
})();
