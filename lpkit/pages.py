"""Browser pages."""

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.route("/")
def home():
    """Show a form that triggers a report."""
    return render_template("home.html")
