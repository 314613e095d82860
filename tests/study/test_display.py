"""What readers see: number formats at their boundaries, stable and tidy tables, SVG figures."""

import math
import re

import pandas as pd
import pytest

from persona_judge.study import display


@pytest.mark.parametrize(("value", "text"), [
    (66.666666, "66.7"), (0.0, "0.0"), (100, "100.0"), (None, "–"), (math.nan, "–")])
def test_percentages_have_one_decimal(value, text):
    assert display.pct(value) == text


def test_intervals_and_signed_differences():
    assert display.with_ci(61.97, 58.04, 65.912) == "62.0 [58.0, 65.9]"
    assert display.with_ci(61.97, None, 65.9) == "62.0"
    assert display.signed(5.26) == "+5.3"
    assert display.signed(-2.0) == "\u22122.0"
    assert display.signed(0.0) == "+0.0"


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "< 0.0001"), (0.00009999, "< 0.0001"), (0.0001, "0.0001"), (0.02312, "0.0231"),
    (0.5, "0.5"), (1.0, "1"), (None, "–")])
def test_p_values_never_print_as_zero(value, text):
    assert display.p_value(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (0.2312, "$0.23"), (1234.5, "$1,234.50"), (0.004, "< $0.01"), (0.0, "$0.00")])
def test_dollars(value, text):
    assert display.dollars(value) == text


def test_counts_have_thousands_separators():
    assert display.count(250982) == "250,982"
    assert display.count(7.0) == "7"


def test_tables_have_no_index_a_stable_id_and_the_chosen_row_in_bold():
    frame = pd.DataFrame({"method": ["a", "b"], "accuracy": [55.56, 61.0]}, index=[7, 9])
    html = display.table(frame, name="Main results", formats={"accuracy": display.pct},
                         highlight=[1]).to_html()
    again = display.table(frame, name="Main results", formats={"accuracy": display.pct},
                          highlight=[1]).to_html()
    assert html == again
    assert 'id="T_main-results"' in html
    assert ">55.56<" not in html and ">55.6<" in html  # formatted, not raw
    assert ">7<" not in html  # the index is hidden
    rule = html[:html.index("font-weight: bold")].rsplit("}", 1)[-1]  # the rule's selectors
    assert "row1_col0" in rule and "row1_col1" in rule and "row0" not in rule


@pytest.fixture
def shell():
    """An IPython shell for the figure formatters, cleared afterwards: a shell left behind makes
    every later ``get_ipython()`` non-None, and other tests' plain-text output turns into
    display objects."""
    from IPython.core.interactiveshell import InteractiveShell

    yield InteractiveShell.instance()  # figures reach the page through its formatters
    InteractiveShell.clear_instance()


def test_figures_are_svg_sized_for_the_column_without_a_build_date(shell):
    import matplotlib.pyplot as plt

    display.setup_figures()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    data, _ = shell.display_formatter.format(fig)
    plt.close(fig)
    assert "image/svg+xml" in data and "image/png" not in data
    assert "<dc:date>" not in data["image/svg+xml"]
    assert fig.get_size_inches()[0] == pytest.approx(display.FIGURE_WIDTH)
    assert plt.rcParams["xtick.labelsize"] >= display.min_font_points(display.FIGURE_WIDTH)
    # a figure drawn with small text reaches the page with text raised to the phone floor
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.set_xlabel("small", fontsize=6)
    shell.display_formatter.format(fig)
    floor = display.min_font_points(display.saved_width_inches(fig))
    assert ax.xaxis.label.get_fontsize() >= floor > display.min_font_points(5)
    plt.close(fig)


def test_tables_use_the_book_table_look_align_numbers_and_format_stray_floats():
    frame = pd.DataFrame({"method": ["a", "b"], "share": [2 / 3, None], "n": [3, 4],
                          "ok": [True, False]})
    html = display.table(frame, name="t", wrap=["method"]).to_html()
    assert 'class="dataframe"' in html  # the theme styles table.dataframe
    assert ">0.67<" in html and ">–<" in html  # no 0.666667, no nan
    assert "#T_t td.col1 {\n  text-align: right;" in html  # numbers right
    assert "#T_t td.col2 {\n  text-align: right;" in html
    assert "#T_t td.col0 {\n  text-align: left;" in html  # text left
    assert "#T_t td.col3 {\n  text-align: left;" in html  # booleans are not numbers
    assert "min-width: min(12em, 30vw)" in html  # wrapped columns shrink on a phone
    assert "#T_t  {\n  margin-bottom: 1.5em;" in html  # two tables of one cell stay apart


def test_captions_say_smoke_run_only_in_a_smoke_run():
    assert display.caption("Overview", smoke=True) == "SMOKE RUN — Overview"
    assert display.caption("Overview", smoke=False) == "Overview"


def _fences(markdown: str):
    """The colon-fenced directives of a MyST text as markdown-it (with MyST's plugin) reads them."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.colon_fence import colon_fence_plugin

    return [t for t in MarkdownIt("commonmark").use(colon_fence_plugin).parse(markdown)
            if t.type == "colon_fence"]


def test_dropdowns_hold_their_whole_body_even_when_it_contains_fences():
    body = "Rules:\n:::\nnot the end\n::::\n```\ncode\n```\nlast line"
    box = display.dropdown("A  long\ntitle", body)
    (fence,) = _fences(box.data)
    assert fence.info == "{dropdown} A long title"  # the title is one line
    assert fence.content.rstrip().endswith("last line")  # the body's fences did not close it
    assert ":color: info" in fence.content
    literal = display.dropdown("Θ", body, literal=True)
    (fence,) = _fences(literal.data)
    assert "````text\n" + body + "\n````" in fence.content  # verbatim, in a longer fence


def test_boxes_are_open_admonitions_of_the_given_kind():
    (fence,) = _fences(display.boxed("Persona of u1", "Likes short answers.", kind="tip").data)
    assert fence.info == "{admonition} Persona of u1"
    assert fence.content.startswith(":class: tip\n") and "Likes short answers." in fence.content


def test_smoke_stamp_is_one_line_above_the_figure():
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    display.smoke_stamp(fig, "SMOKE RUN — test")
    assert [t.get_text() for t in fig.texts] == ["SMOKE RUN — test"]
    assert fig.texts[0].get_position()[1] == 1 and fig.texts[0].get_va() == "bottom"
    assert fig.texts[0].get_rotation() == 0
    plt.close(fig)


@pytest.mark.parametrize("caption", [
    "What each stage spent — SMOKE RUN (scripted stand-in)",
    "SMOKE RUN (scripted stand-in, not a result). What each stage spent",
    "What each stage spent — SMOKE RUN, not a result",
    "SMOKE RUN — What each stage spent",
])
def test_table_captions_carry_one_smoke_prefix_whatever_the_chapter_wrote(caption):
    frame = pd.DataFrame({"stage": ["fit"], "calls": [3]})
    shown = display.table(frame, name="spend", caption=caption).caption
    assert shown == "SMOKE RUN — What each stage spent"
    assert display.table(frame, name="s", caption="What each stage spent").caption == \
        "What each stage spent"


def test_a_tables_plain_text_is_stable_across_runs():
    frame = pd.DataFrame({"method": ["a"], "accuracy": [61.97]})
    first = repr(display.table(frame, name="t", caption="Results"))
    second = repr(display.table(frame.copy(), name="t", caption="Results"))
    assert first == second == "Results\nmethod  accuracy\n     a     61.97"
    assert " at 0x" not in first


def test_figures_stay_legible_when_the_inline_backend_registers_its_formatters_later(shell):
    """The inline backend re-registers IPython's figure formatters at its first figure; the
    phone floor must survive that (it did not, and figures showed 6.8 px text on a phone)."""
    import matplotlib.pyplot as plt
    from IPython.core.pylabtools import select_figure_formats

    display.setup_figures()
    select_figure_formats(shell, {"svg"})  # what the backend does on activation
    for width in (5.5, 7.0):
        fig, ax = plt.subplots(figsize=(width, 3))
        ax.set_title("small", fontsize=6)
        data, _ = shell.display_formatter.format(fig)
        assert "image/svg+xml" in data
        assert ax.title.get_fontsize() >= display.min_font_points(display.saved_width_inches(fig))
        assert ax.title.get_fontsize() > 6
        plt.close(fig)


def test_an_empty_table_says_why_instead_of_showing_a_bare_header():
    frame = pd.DataFrame({"kind": [], "count": []})
    shown = display.table(frame, name="fallbacks", caption="SMOKE RUN — Fallbacks",
                          empty="none in this run: every request ended with a choice.")
    assert shown.caption == "SMOKE RUN — Fallbacks: none in this run: every request ended " \
        "with a choice."
    assert "display: none" in shown.to_html()  # no header-only table
    full = display.table(pd.DataFrame({"kind": ["tie"], "count": [1]}), name="f", caption="F")
    assert full.caption == "F" and "display: none" not in full.to_html()


def test_the_plain_text_copy_shows_the_reader_s_formats():
    """nbval compares the text copy: two runs whose dollars differ in the 7th decimal (a
    float sum in another thread order) read the same, as they do on the page."""
    texts = {repr(display.table(pd.DataFrame({"stage": ["fit"], "calls": [1234],
                                           "dollars": [value]}),
                             name="spend", caption="Spend",
                             formats={"dollars": display.dollars, "calls": display.count}))
             for value in (0.0058461, 0.0058459)}
    assert len(texts) == 1
    (text,) = texts
    assert "1,234" in text and "$0.01" in text and "0.0058" not in text


@pytest.mark.parametrize(("column", "header"), [
    ("user_id", "user"), ("cache_hits", "cache hits"), ("ci_low", "CI low"),
    ("chatbot_arena users", "Chatbot Arena users"), ("constructed_prism", "constructed PRISM"),
    ("constructed_chatbot_arena", "constructed Chatbot Arena"),
    ("p (user, Holm)", "p (user, Holm)")])
def test_headers_are_read_as_words_not_program_names(column, header):
    assert display.reader_header(column) == header


def test_a_tables_headers_are_relabelled_but_its_formats_still_apply():
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "cache_hits": [1234, 5]})
    shown = display.table(frame, name="t", caption="Spend", formats={"cache_hits": display.count})
    html = shown.to_html()
    assert ">user<" in html and ">cache hits<" in html and "user_id" not in html
    assert ">1,234<" in html
    assert repr(shown).splitlines()[1].split() == ["user", "cache", "hits"]
    assert "1,234" in repr(shown)


def _rules(frame):
    return {r["selector"]: "; ".join(f"{k}: {v}" for k, v in r["props"]) for r in
            display.table(frame, name="t", caption="c").table_styles}


def test_numbers_intervals_and_header_words_are_not_broken_while_the_table_fits():
    frame = pd.DataFrame({"method": ["a long method name"],
                          "accuracy [95% CI]": ["62.0 [58.0, 65.9]"],
                          "p": [0.1137], "note": ["0 by design"]})
    rules = _rules(frame)
    assert "overflow-wrap: normal" in rules["td.col2"]        # a number
    assert "overflow-wrap: normal" in rules["td.col1"]        # an interval: at spaces only
    assert "overflow-wrap" not in rules["td.col0"] + rules["td.col3"]  # text may break to fit
    assert all("overflow-wrap: normal" in rules[f"th.col_heading.col{i}"] for i in range(4))
    # the phone layout keeps numbers whole by class (study.css), whatever the desktop rule
    cells = re.findall(r'<td id="T_t_row0_col(\d)" class="data row0 col\d (\w+)"',
                       display.table(frame, name="t", caption="c").to_html())
    assert cells == [("0", "text"), ("1", "num"), ("2", "num"), ("3", "text")]


@pytest.mark.parametrize(("columns", "numbers_whole", "headers_whole"), [
    (6, True, True), (9, True, False), (16, False, False)])
def test_a_wide_table_lets_headers_then_numbers_break_so_that_it_fits(columns, numbers_whole,
                                                                      headers_whole):
    frame = pd.DataFrame({f"completion tokens {i}": [250982] for i in range(columns)})
    rules = _rules(frame)
    assert ("overflow-wrap: normal" in rules["td.col0"]) is numbers_whole
    assert ("overflow-wrap: normal" in rules["th.col_heading.col0"]) is headers_whole
