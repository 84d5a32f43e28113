"""Searching in the browser: operator suggestions, highlights, facets."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import Browsing

pytestmark = pytest.mark.e2e


def test_search_suggests_operators_highlights_and_narrows(web: Browsing) -> None:
    page = web.page
    web.sign_in()
    box = page.get_by_role("combobox", name="Search mail")
    box.fill("budget fro")
    suggestions = page.get_by_role("listbox", name="Search operators")
    expect(suggestions.get_by_role("option").first).to_contain_text("from:")
    box.press("ArrowDown")
    box.press("Enter")  # completes the chosen operator
    expect(box).to_have_value("budget from:")
    box.fill("budget")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q=budget$"))
    results = page.get_by_role("list", name="Search results").locator("li")
    expect(results).to_have_count(3)
    expect(page.get_by_role("status").filter(has_text="results")).to_have_text("3 results")
    marks = results.locator("mark")
    expect(marks.first).to_have_text(re.compile("budget", re.I))
    web.shot("11-search")
    facets = page.get_by_role("navigation", name="Narrow the search")
    facets.get_by_role("button", name=re.compile("finance.example")).click()
    expect(page).to_have_url(re.compile(r"from%3Afinance\.example"))
    expect(results).to_have_count(2)
    expect(box).to_have_value("budget from:finance.example")
    web.shot("12-search-narrowed")


def test_a_query_that_does_not_parse_says_why(web: Browsing) -> None:
    web.sign_in()
    web.page.goto(web.site.base + "/search?q=" + "%28unclosed")
    expect(web.page.get_by_role("alert")).to_be_visible()
