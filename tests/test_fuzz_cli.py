"""Fuzzing the CLI's numeric options and index list files: a valid value or one argparse line, exit 2; a list of
paths or one :class:`IndexFailure` line; never a traceback, a non-finite value or an out-of-range one."""
import argparse
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonotype.cli.main import build_parser
from sonotype.cli.options import DEFAULT_RANGE, LISTS, RANGES
from sonotype.index.inputs import IndexFailure, find_inputs

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _numeric_options():
    """(argv prefix, option string, dest, kind) for every numeric option of every command."""
    out = []

    def walk(parser, prefix):
        for a in parser._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, prefix + [name])
            elif a.option_strings and getattr(a.type, "__name__", "") in ("int", "float", "list"):
                out.append((tuple(prefix), a.option_strings[-1], a.dest, a.type.__name__))
    walk(build_parser(), [])
    return out


OPTIONS = _numeric_options()


def test_every_numeric_option_is_checked():
    dests = {d for _, _, d, _ in OPTIONS}
    assert {"window", "clip", "rate", "median", "workers", "silence_db", "epochs", "lr"} <= dests
    assert len(OPTIONS) > 40


number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr), st.integers(-10 ** 12, 10 ** 12).map(str),
    st.sampled_from(["inf", "-inf", "nan", "NaN", "1e309", "-0", "0", "0x10", "1_000", " 3", "", "1,2", "1,,2", "auto"]),
    st.text(max_size=8))


def _range(dest, kind):
    if kind == "list":
        return LISTS[dest]
    k = int if kind == "int" else float
    return k, RANGES.get(dest, DEFAULT_RANGE[k])


def _ok(v, kind, rng):
    lo, hi, lo_open = rng
    return math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi and (kind is float or v == int(v))


@settings(FAST)
@given(option=st.sampled_from(OPTIONS), text=number_text)
def test_numeric_options_value_or_one_line(capsys, option, text):
    prefix, flag, dest, kind = option
    parser = build_parser()
    try:
        ns = parser.parse_args([*prefix, f"{flag}={text}"])
    except SystemExit as e:
        err = capsys.readouterr().err
        assert e.code == 2 and "Traceback" not in err
        lines = err.strip().splitlines()
        assert lines[0].startswith("usage:") and lines[-1].startswith("sonotype ") and "error: " in lines[-1]
        # something was wrong: a missing required option, or this value out of range
        assert f"argument {flag}" in lines[-1] or "required" in lines[-1], lines[-1]
        return
    v = getattr(ns, dest)
    elem, rng = _range(dest, kind)
    values = [elem(x) for x in v.split(",")] if kind == "list" else [v]
    assert all(_ok(x, elem, rng) for x in values), (flag, text, v)


@settings(FAST)
@given(data=st.binary(max_size=512) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
       name=st.sampled_from(["list.txt", "files", "x.csv"]))
def test_list_files_paths_or_one_line(tmp_path_factory, data, name):
    path = tmp_path_factory.mktemp("lst") / name
    try:
        path.write_bytes(data)
    except ValueError:
        return
    try:
        files = find_inputs(path)
    except IndexFailure as err:
        assert str(err).startswith(str(path) + ": ") and "\n" not in str(err)
    else:
        assert all(isinstance(f, str) and f for f in files) and len(set(files)) == len(files)


@pytest.mark.parametrize("flag", ["--window", "--median"])
def test_values_at_the_edges(flag, capsys):
    lo = {"--window": "600", "--median": "60000"}[flag]
    assert getattr(build_parser().parse_args(["segment", "a.wav", flag, lo]), flag[2:]) == float(lo)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["segment", "a.wav", flag, str(float(lo) * 2) if flag == "--window" else "60001"])
