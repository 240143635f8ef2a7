"""Each worked example reproduces its expected.csv byte for byte, through the API."""

import pytest

from conftest import EXAMPLES, MISSING_SHARED, import_files, wait_for_report

EXAMPLE_DIRS = sorted(path for path in EXAMPLES.iterdir() if path.is_dir()) if EXAMPLES.exists() else []


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=[path.name for path in EXAMPLE_DIRS])
def test_example_matches_expected_csv(example, client, connection, tmp_path):
    import_files(connection, tmp_path, example)
    pivot = (example / "pivot.txt").read_text(encoding="utf-8").strip()

    triggered = client.post("/trigger_report", json={"pivot": pivot})
    assert triggered.status_code == 202
    response = wait_for_report(client, triggered.get_json()["report_id"])

    assert response.status_code == 200
    assert response.headers["X-Report-Status"] == "Complete"
    assert response.data == (example / "expected.csv").read_bytes()


def test_examples_are_present():
    if not EXAMPLES.exists():
        pytest.skip(MISSING_SHARED)
    assert len(EXAMPLE_DIRS) >= 3
