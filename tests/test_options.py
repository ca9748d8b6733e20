"""Options from uwsgi.opt and the ini file; problems come back as one log line each.

On Python 3 uWSGI gives every ``uwsgi.opt`` value as bytes, a bare flag as True,
and a repeated key only once (its last value): the fakes below do the same.
"""

import math
import os

import pytest

from uwsgi_reload._options import (
    DEFAULT_INTERVAL,
    MAX_INTERVAL,
    MIN_INTERVAL,
    Options,
    printable,
    read_options,
)


def ini_file(folder, text, name="uwsgi.ini"):
    path = folder / name
    path.write_text(text)
    return str(path)


def test_no_options_gives_the_defaults_and_no_problems():
    assert read_options({}) == (Options(True, DEFAULT_INTERVAL, [], []), [])


def test_every_value_of_a_repeated_ini_key_counts(tmp_path):
    path = ini_file(
        tmp_path,
        "[uwsgi]\n"
        "uwsgi-reload-extra-files = a.html b.html\n"
        "module = app\n"
        "uwsgi-reload-extra-files = %dc.env\n"
        "uwsgi-reload-ignore = *.log\n"
        "uwsgi-reload-ignore = *.tmp *.swp\n",
    )
    # What uWSGI 2.0.31 puts in uwsgi.opt: the last value only, magic expanded.
    opt = {
        "ini": os.fsencode(path),
        "uwsgi-reload-extra-files": os.fsencode(str(tmp_path / "c.env")),
        "uwsgi-reload-ignore": b"*.tmp *.swp",
    }

    options, problems = read_options(opt)

    assert options.extra == ["a.html", "b.html", str(tmp_path / "c.env")]
    assert options.ignore == ["*.log", "*.tmp", "*.swp"]
    assert problems == []


def test_percent_d_expands_to_the_ini_directory(tmp_path):
    path = ini_file(tmp_path, "[uwsgi]\nuwsgi-reload-extra-files = %dtemplates/*.html\n")

    options, problems = read_options({"ini": os.fsencode(path)})

    assert options.extra == [str(tmp_path) + os.sep + "templates/*.html"]
    assert problems == []


def test_percent_name_expands_from_an_option(tmp_path):
    path = ini_file(tmp_path, "[uwsgi]\nuwsgi-reload-extra-files = %(base)/.env %(undefined)/x\n")

    options, _ = read_options({"ini": os.fsencode(path), "base": b"/srv/app"})

    assert options.extra == ["/srv/app/.env", "%(undefined)/x"]


def test_section_selector_reads_only_that_section(tmp_path):
    path = ini_file(
        tmp_path,
        "[uwsgi]\nuwsgi-reload-interval = 7\nuwsgi-reload-extra-files = main.txt\n"
        "[other]\nuwsgi-reload-interval = 2\nuwsgi-reload-extra-files = other.txt\n",
    )

    options, problems = read_options({"ini": os.fsencode(path + ":other")})

    assert options.interval == 2.0
    assert options.extra == ["other.txt"]
    assert problems == []


def test_relative_ini_is_found_in_a_candidate_directory(tmp_path):
    ini_file(tmp_path, "[uwsgi]\nuwsgi-reload-extra-files = one two\n")

    options, _ = read_options({"ini": b"uwsgi.ini"}, [str(tmp_path)])

    assert options.extra == ["one", "two"]


def test_values_only_on_the_command_line_count():
    # --set-placeholder uwsgi-reload-interval=1 ... : in uwsgi.opt, no ini file.
    opt = {
        "uwsgi-reload-interval": b"1.5",
        "uwsgi-reload-extra-files": b"/etc/app.env /srv/*.html",
        "uwsgi-reload-ignore": b"*.log",
    }

    options, problems = read_options(opt)

    assert options == Options(True, 1.5, ["/etc/app.env", "/srv/*.html"], ["*.log"])
    assert problems == []


def test_command_line_value_after_the_ini_wins(tmp_path):
    path = ini_file(tmp_path, "[uwsgi]\nuwsgi-reload-interval = 5\n")

    options, problems = read_options({"ini": os.fsencode(path), "uwsgi-reload-interval": b"0.5"})

    assert options.interval == 0.5
    assert problems == []


def test_ini_that_is_not_a_file_falls_back_to_the_opt_values(tmp_path):
    folder = tmp_path / "uwsgi.ini"
    folder.mkdir()

    options, problems = read_options({"ini": os.fsencode(str(folder)), "uwsgi-reload-interval": b"2"})

    assert options.interval == 2.0
    assert problems == []


@pytest.mark.parametrize(
    "raw, used",
    [
        (b"soon", DEFAULT_INTERVAL),
        (b"-1", MIN_INTERVAL),
        (b"0", MIN_INTERVAL),
        (b"nan", DEFAULT_INTERVAL),  # not a number at all, like "soon"
        (b"1e9", MAX_INTERVAL),
        (b"inf", MAX_INTERVAL),
        (b"", DEFAULT_INTERVAL),
        (b"\xff", DEFAULT_INTERVAL),
        (b"\x1b[2J", DEFAULT_INTERVAL),
    ],
)
def test_bad_interval_gives_one_problem_naming_key_value_and_what_was_used(raw, used):
    options, problems = read_options({"uwsgi-reload-interval": raw})

    assert options.interval == used
    assert math.isfinite(options.interval)
    assert MIN_INTERVAL <= options.interval <= MAX_INTERVAL
    assert len(problems) == 1
    (line,) = problems
    assert "uwsgi-reload-interval" in line
    assert "'%s'" % printable(raw.decode("utf-8", "surrogateescape")) in line
    assert line.endswith("using %g" % used)
    assert line.isprintable()


def test_bad_interval_in_both_ini_and_opt_gives_one_problem(tmp_path):
    path = ini_file(tmp_path, "[uwsgi]\nuwsgi-reload-interval = soon\n")

    options, problems = read_options({"ini": os.fsencode(path), "uwsgi-reload-interval": b"soon"})

    assert options.interval == DEFAULT_INTERVAL
    assert len(problems) == 1


def test_undecodable_interval_is_named_with_an_escape():
    _, (line,) = read_options({"uwsgi-reload-interval": b"\xff"})

    assert "\\udcff" in line or "\\xff" in line
    line.encode("utf-8")  # no lone surrogate reaches the log


@pytest.mark.parametrize("word", [b"false", b"no", b"0", b"off", b"FALSE", b" Off "])
def test_uwsgi_reload_false_disables(word):
    options, problems = read_options({"uwsgi-reload": word})

    assert options.enabled is False
    assert problems == []


def test_uwsgi_reload_false_in_the_ini_disables(tmp_path):
    path = ini_file(tmp_path, "[uwsgi]\nuwsgi-reload = false\n")

    options, problems = read_options({"ini": os.fsencode(path)})

    assert options.enabled is False
    assert problems == []


@pytest.mark.parametrize("value", [True, b"true", b"yes", b"1", b"on"])
def test_uwsgi_reload_bare_flag_or_true_enables(value):
    options, problems = read_options({"uwsgi-reload": value})

    assert options.enabled is True
    assert problems == []


def test_uwsgi_reload_maybe_gives_one_problem_and_stays_enabled():
    options, problems = read_options({"uwsgi-reload": b"maybe"})

    assert options.enabled is True
    assert len(problems) == 1
    assert "uwsgi-reload = 'maybe'" in problems[0]
    assert problems[0].endswith("using true")


def test_preload_is_off_unless_asked_and_a_bad_value_leaves_it_off():
    assert read_options({})[0].preload is False
    assert read_options({"uwsgi-reload-preload": True}) == (Options(preload=True), [])
    options, problems = read_options({"uwsgi-reload-preload": b"soon"})
    assert options.preload is False
    assert problems == ["uwsgi-reload-preload = 'soon' is not true or false; using false"]


def test_printable_escapes_terminal_escape_sequences():
    assert printable("\x1b[31mred") == "\\x1b[31mred"
    assert "\x1b" not in printable("a\x1b]0;title\x07b")
    assert printable("tab\there\nnewline") == "tab\\there\\nnewline"


def test_printable_escapes_surrogates_so_the_line_can_be_encoded():
    text = printable(b"/srv/\xff\xfe.py".decode("utf-8", "surrogateescape"))

    assert text == "/srv/\\udcff\\udcfe.py"
    text.encode("utf-8")


def test_printable_keeps_ordinary_text_including_non_ascii():
    assert printable("/srv/café/app.py 3 s") == "/srv/café/app.py 3 s"
