"""The configuration reader against Asterisk's `main/config.c`: includes, globs, templates, `(+)`,
`+=`, comments and block comments, and the file:line every fact and issue carries."""

from __future__ import annotations

import pytest

from collectors.pbx import conf as conf_mod
from collectors.pbx.conf import ConfFile, Loc, ReadIssue, read_conf
from collectors.pbx.dump import DumpFile


def tree(**files: str | bytes | None) -> dict[str, DumpFile]:
    """A tree from keyword arguments; "__" in a name stands for "/" and "_dot_" for "."."""
    out = {}
    for key, text in files.items():
        path = key.replace("__", "/").replace("_dot_", ".")
        data = text.encode("utf-8") if isinstance(text, str) else text
        out[path] = DumpFile(path, data, None if data is not None else "permission denied")
    return out


def files(mapping: dict[str, str]) -> dict[str, DumpFile]:
    return {p: DumpFile(p, t.encode("utf-8")) for p, t in mapping.items()}


def values(conf: ConfFile, section: str) -> dict[str, str]:
    found = conf.first(section)
    assert found is not None, section
    return {o.key: o.value for o in found.options}


def issues(conf: ConfFile, severity: str | None = None) -> list[ReadIssue]:
    return [i for i in conf.issues if severity is None or i.severity == severity]


# --- includes -------------------------------------------------------------------------------------


def test_includes_are_relative_to_the_config_folder_not_the_including_file() -> None:
    c = read_conf(files({
        "top.conf": "[a]\nx=1\n#include sub/one.conf\n",
        "sub/one.conf": "#include two.conf\ny=2\n",  # two.conf is at the root, not in sub/
        "two.conf": "z=3\n",
        "sub/two.conf": "wrong=1\n",
    }), "top.conf")
    assert values(c, "a") == {"x": "1", "z": "3", "y": "2"}
    assert c.files == ["top.conf", "sub/one.conf", "two.conf"]
    assert c.issues == []


def test_absolute_etc_asterisk_paths_and_quoted_names() -> None:
    c = read_conf(files({
        "top.conf": '[a]\n#include "/etc/asterisk/q.conf"\n#include <angle.conf>\n#include /etc/asterisk/plain.conf\n',
        "q.conf": "q=1\n", "angle.conf": "angle=1\n", "plain.conf": "plain=1\n",
    }), "top.conf")
    assert values(c, "a") == {"q": "1", "angle": "1", "plain": "1"}
    assert c.issues == []


def test_include_outside_the_config_folder_is_a_blocking_error_and_tryinclude_a_warning() -> None:
    c = read_conf(files({"top.conf": "[a]\n#include /opt/x.conf\n#tryinclude /opt/y.conf\n"}), "top.conf")
    err = issues(c, "error")
    assert len(err) == 1 and err[0].blocking and err[0].loc == Loc("top.conf", 2) and "/opt/x.conf" in err[0].message
    warn = issues(c, "warning")
    assert len(warn) == 1 and not warn[0].blocking and warn[0].loc == Loc("top.conf", 3)
    assert not c.complete


def test_globs_are_read_in_sorted_order_and_do_not_cross_folders() -> None:
    c = read_conf(files({
        "top.conf": "[a]\n#include custom/*.conf\n",
        "custom/b.conf": "order=b\n",
        "custom/a.conf": "order=a\n",
        "custom/deeper/c.conf": "order=c\n",  # glob's * does not match "/"
        "custom/readme.txt": "order=txt\n",
    }), "top.conf")
    assert [o.value for o in c.first("a").get_all("order")] == ["a", "b"]  # type: ignore[union-attr]
    assert c.first("a").get("order") == "b"  # type: ignore[union-attr]
    assert c.files == ["top.conf", "custom/a.conf", "custom/b.conf"]


def test_glob_without_match_is_a_warning_for_include_and_silent_for_tryinclude() -> None:
    c = read_conf(files({"top.conf": "[a]\n#include none/*.conf\n#tryinclude none/*.conf\n"}), "top.conf")
    assert len(c.issues) == 1
    assert c.issues[0].severity == "warning" and c.issues[0].loc == Loc("top.conf", 2)
    assert c.complete


def test_missing_include_is_a_warning_naming_file_and_line_and_tryinclude_is_silent() -> None:
    c = read_conf(files({"top.conf": "[a]\n#tryinclude gone1.conf\nx=1\n#include gone2.conf\n"}), "top.conf")
    assert len(c.issues) == 1
    issue = c.issues[0]
    assert issue.severity == "warning" and not issue.blocking
    assert issue.loc == Loc("top.conf", 4) and "gone2.conf" in issue.message
    assert str(issue).startswith("top.conf:4: ")
    assert values(c, "a") == {"x": "1"}


def test_include_loop_is_a_blocking_error_naming_the_chain() -> None:
    c = read_conf(files({
        "top.conf": "[a]\n#include one.conf\n",
        "one.conf": "x=1\n#include two.conf\n",
        "two.conf": "y=2\n#include one.conf\nz=3\n",
    }), "top.conf")
    err = issues(c, "error")
    assert len(err) == 1 and err[0].blocking
    assert err[0].loc == Loc("two.conf", 2)
    assert "one.conf -> two.conf -> one.conf" in err[0].message
    assert values(c, "a") == {"x": "1", "y": "2", "z": "3"}  # everything else still read, once
    assert not c.complete


def test_self_include_is_a_loop() -> None:
    c = read_conf(files({"top.conf": "[a]\n#include top.conf\n"}), "top.conf")
    assert [i.blocking for i in c.issues] == [True]
    assert "top.conf -> top.conf" in c.issues[0].message


def test_nesting_deeper_than_asterisk_allows_is_blocking() -> None:
    depth = conf_mod.MAX_INCLUDE_DEPTH
    assert depth == 10  # config.c MAX_INCLUDE_LEVEL
    chain = {f"f{i}.conf": f"v{i}={i}\n#include f{i + 1}.conf\n" for i in range(depth + 2)}
    chain["top.conf"] = "[a]\n#include f0.conf\n"
    c = read_conf(files(chain), "top.conf")
    # top.conf is level 1, f0 … f8 are levels 2 … 10; f9 would be the 11th
    assert len(c.files) == depth
    err = issues(c, "error")
    assert len(err) == 1 and err[0].blocking and "f9.conf" in err[0].message and err[0].loc == Loc("f8.conf", 2)
    ok = files({"top.conf": "[a]\n#include f0.conf\n",
                **{f"f{i}.conf": f"v{i}={i}\n" + (f"#include f{i + 1}.conf\n" if i < depth - 2 else "")
                   for i in range(depth - 1)}})
    assert read_conf(ok, "top.conf").issues == []


def test_exec_is_a_blocking_error() -> None:
    c = read_conf(files({"top.conf": "[a]\nx=1\n#exec /usr/bin/gen-peers.sh\n"}), "top.conf")
    assert len(c.issues) == 1
    issue = c.issues[0]
    assert issue.severity == "error" and issue.blocking and issue.loc == Loc("top.conf", 3)
    assert "/usr/bin/gen-peers.sh" in issue.message
    assert not c.complete and c.blocking_issues() == [issue]


def test_unknown_directive_is_a_warning() -> None:
    c = read_conf(files({"top.conf": "[a]\n#define x\n"}), "top.conf")
    assert [(i.severity, i.loc) for i in c.issues] == [("warning", Loc("top.conf", 2))]


def test_included_file_continues_the_current_category() -> None:
    c = read_conf(files({
        "top.conf": "[a]\nx=1\n#include more.conf\nafter=top\n#include last.conf\n",
        "more.conf": "y=2\n[b]\nz=3\n",
        "last.conf": "in_last=1\n",
    }), "top.conf")
    # config.c: the included file starts in the latest category (cfg->current); the including
    # file keeps its own category (its local `cat`), so `after` belongs to [a] although the
    # included file opened [b]; the second included file starts in [b], the latest one opened.
    assert values(c, "a") == {"x": "1", "y": "2", "after": "top"}
    assert values(c, "b") == {"z": "3", "in_last": "1"}
    assert c.first("a").option("after").loc == Loc("top.conf", 4)  # type: ignore[union-attr]


def test_missing_top_file() -> None:
    c = read_conf(files({"other.conf": "[a]\n"}), "top.conf")
    assert not c.present and not c.complete and c.sections == [] and c.files == []


# --- templates, (+), += ---------------------------------------------------------------------------


def test_templates_are_inherited_and_marked() -> None:
    c = read_conf(files({"top.conf": (
        "[tpl](!)\ncontext=from-internal\ncall_group=1\n"
        "[100](tpl)\ntype=endpoint\ncall_group=2\n"
    )}), "top.conf")
    assert [s.name for s in c.categories()] == ["100"]
    assert [s.name for s in c.categories(include_templates=True)] == ["tpl", "100"]
    assert c.named("tpl") == [] and c.first("tpl") is None
    sec = c.first("100")
    assert sec is not None and sec.templates == ("tpl",) and not sec.is_template
    assert [(o.key, o.value, o.inherited) for o in sec.options] == [
        ("context", "from-internal", True), ("call_group", "1", True), ("type", "endpoint", False),
        ("call_group", "2", False)]
    assert sec.get("call_group") == "2"  # the last value wins
    assert [o.value for o in sec.get_all("CALL_GROUP")] == ["1", "2"]
    assert sec.option("context").loc == Loc("top.conf", 2)  # type: ignore[union-attr]
    assert sec.get("missing", "dflt") == "dflt" and sec.get("missing") is None


def test_template_must_be_defined_before_use() -> None:
    c = read_conf(files({"top.conf": "[100](later)\nx=1\n[later](!)\ny=2\n"}), "top.conf")
    err = issues(c, "error")
    assert len(err) == 1 and err[0].loc == Loc("top.conf", 1) and "later" in err[0].message
    assert values(c, "100") == {"x": "1"}


def test_template_that_is_itself_a_template_and_several_bases() -> None:
    c = read_conf(files({"top.conf": (
        "[base](!)\na=1\n"
        "[phone](!,base)\nb=2\n"
        "[other](!)\nc=3\n"
        "[100](phone,other)\nd=4\n"
    )}), "top.conf")
    phone = c.categories(include_templates=True)
    assert [s.name for s in phone] == ["base", "phone", "other", "100"]
    assert c.sections[1].is_template and c.sections[1].templates == ("base",)
    assert values(c, "100") == {"a": "1", "b": "2", "c": "3", "d": "4"}


def test_template_lookup_uses_the_first_category_of_that_name() -> None:
    # config.c's ast_category_get returns the first category with the name
    c = read_conf(files({"top.conf": "[t](!)\nv=first\n[t](!)\nv=second\n[100](t)\n"}), "top.conf")
    assert values(c, "100") == {"v": "first"}


def test_plus_appends_to_the_existing_category() -> None:
    c = read_conf(files({
        "top.conf": "[a]\nx=1\n[b]\ny=2\n#include extra.conf\n",
        "extra.conf": "[a](+)\nz=3\n",
    }), "top.conf")
    assert len(c.named("a")) == 1
    assert values(c, "a") == {"x": "1", "z": "3"}
    assert c.first("a").option("z").loc == Loc("extra.conf", 2)  # type: ignore[union-attr]


def test_plus_targets_the_first_category_of_that_name() -> None:
    # pjsip: [100] type=endpoint and [100] type=aor; "[100](+)" is the first of them (ast_category_get)
    c = read_conf(files({"top.conf": "[100]\ntype=endpoint\n[100]\ntype=aor\n[100](+)\ncontext=x\n"}), "top.conf")
    endpoint, aor = c.named("100")
    assert endpoint.get("context") == "x" and aor.get("context") is None


def test_plus_without_an_existing_category_is_a_warning_and_a_new_category() -> None:
    c = read_conf(files({"top.conf": "[a](+)\nx=1\n"}), "top.conf")
    assert [(i.severity, i.loc) for i in c.issues] == [("warning", Loc("top.conf", 1))]
    assert values(c, "a") == {"x": "1"}


def test_plus_equals_appends_to_the_last_value_in_place() -> None:
    c = read_conf(files({"top.conf": "[a]\nallow=ulaw\nother=1\nallow +=,alaw\nnew += fresh\n"}), "top.conf")
    sec = c.first("a")
    assert sec is not None
    assert sec.get("allow") == "ulaw,alaw"
    assert len(sec.get_all("allow")) == 1  # updated, not a second value
    assert [o.key for o in sec.options] == ["allow", "other", "new"]
    assert sec.option("allow").loc == Loc("top.conf", 4)  # type: ignore[union-attr]
    assert sec.get("new") == "fresh"  # nothing to append to: set normally


def test_plus_equals_keeps_the_text_after_the_equal_sign() -> None:
    # config.c appends the raw text after '=' and trims the result's ends only
    c = read_conf(files({"top.conf": "[a]\nx = foo\nx += bar \n"}), "top.conf")
    assert c.first("a").get("x") == "foo bar"  # type: ignore[union-attr]


def test_arrow_values_and_whitespace() -> None:
    c = read_conf(files({"top.conf": "[a]\n  exten => 100,1,Dial(PJSIP/100)  \nkey=  spaced value \t\nempty=\n"}),
                  "top.conf")
    assert values(c, "a") == {"exten": "100,1,Dial(PJSIP/100)", "key": "spaced value", "empty": ""}


def test_option_before_any_category_is_an_error() -> None:
    c = read_conf(files({"top.conf": "orphan=1\n[a]\nx=1\n"}), "top.conf")
    err = issues(c, "error")
    assert len(err) == 1 and err[0].loc == Loc("top.conf", 1) and "orphan" in err[0].message
    assert values(c, "a") == {"x": "1"}


def test_line_without_equal_sign_is_a_warning() -> None:
    c = read_conf(files({"top.conf": "[a]\njust words\nx=1\n"}), "top.conf")
    assert [(i.severity, i.loc) for i in c.issues] == [("warning", Loc("top.conf", 2))]
    assert values(c, "a") == {"x": "1"}


def test_category_header_without_bracket_is_an_error() -> None:
    c = read_conf(files({"top.conf": "[a\nx=1\n"}), "top.conf")
    assert [(i.severity, i.loc) for i in c.issues] == [("error", Loc("top.conf", 1)), ("error", Loc("top.conf", 2))]
    assert c.sections == []  # and x=1 is outside any category


# --- comments -------------------------------------------------------------------------------------


def test_line_comments_and_escaped_semicolons() -> None:
    c = read_conf(files({"top.conf": (
        "; a comment\n"
        "[a] ; trailing\n"
        "x=1 ; the value is 1\n"
        "y=a\\;b;c\n"
        "   ;indented comment\n"
    )}), "top.conf")
    assert values(c, "a") == {"x": "1", "y": "a;b"}
    assert c.issues == []


def test_block_comment_across_lines() -> None:
    c = read_conf(files({"top.conf": (
        "[a]\n"
        "x=1 ;-- starts here\n"
        "y=2\n"
        "[hidden]\n"
        "still --; z=3\n"
        "w=4 ;-- inline --; v=5\n"
    )}), "top.conf")
    assert values(c, "a") == {"x": "1", "z": "3", "w": "4  v=5"}  # config.c joins the text around it
    assert c.first("hidden") is None
    assert c.issues == []
    assert c.first("a").option("z").loc == Loc("top.conf", 5)  # type: ignore[union-attr]


def test_block_comments_nest() -> None:
    c = read_conf(files({"top.conf": "[a]\n;-- outer\n;-- inner --;\nhidden=1\n--;\nx=1\n"}), "top.conf")
    assert values(c, "a") == {"x": "1"}


def test_dash_banner_is_a_line_comment_not_a_block_comment() -> None:
    # FreePBX headers: ";--------------------------------------------------------------------------------;"
    c = read_conf(files({"top.conf": (
        ";--------------------------------------------------------------------------------;\n"
        "; Do NOT edit this file as it is auto-generated by FreePBX.\n"
        ";--------------------------------------------------------------------------------;\n"
        "[a]\nx=1\n"
    )}), "top.conf")
    assert values(c, "a") == {"x": "1"}
    assert c.issues == []


def test_comments_in_included_files() -> None:
    c = read_conf(files({
        "top.conf": "[a]\n#include inc.conf ; with a comment\nafter=1\n",
        "inc.conf": "; header\ny=2 ; why\n;-- block\nhidden=1\n--;\nz=3\n",
    }), "top.conf")
    assert values(c, "a") == {"y": "2", "z": "3", "after": "1"}
    assert c.issues == []


def test_unclosed_block_comment_ends_with_its_file() -> None:
    # config.c keeps the comment state per file: it warns "Unterminated comment" and the including
    # file goes on normally.
    c = read_conf(files({
        "top.conf": "[a]\n#include inc.conf\nafter=1\n",
        "inc.conf": "y=2\n;-- never closed\nhidden=1\n",
    }), "top.conf")
    assert values(c, "a") == {"y": "2", "after": "1"}
    warn = issues(c, "warning")
    assert len(warn) == 1 and warn[0].loc == Loc("inc.conf", 2) and not warn[0].blocking


def test_unclosed_block_comment_in_the_top_file() -> None:
    c = read_conf(files({"top.conf": "[a]\nx=1\n;-- open\ny=2\n"}), "top.conf")
    assert values(c, "a") == {"x": "1"}
    assert [(i.severity, i.loc) for i in c.issues] == [("warning", Loc("top.conf", 3))]


# --- file:line of everything ----------------------------------------------------------------------


def test_every_option_and_section_has_its_file_and_line() -> None:
    top = "; header\n\n[a]\nx=1\n#include inc.conf\n\n[c]\nw=4\n"
    inc = "\n; comment\ny=2\n[b]\n\nz=3\n"
    c = read_conf(files({"top.conf": top, "inc.conf": inc}), "top.conf")
    texts = {"top.conf": top.splitlines(), "inc.conf": inc.splitlines()}
    seen = 0
    for sec in c.categories():
        assert texts[sec.loc.file][sec.loc.line - 1].startswith(f"[{sec.name}]")
        for opt in sec.options:
            assert texts[opt.loc.file][opt.loc.line - 1] == f"{opt.key}={opt.value}"
            seen += 1
    assert seen == 4
    assert [str(s.loc) for s in c.categories()] == ["top.conf:3", "inc.conf:4", "top.conf:7"]


def test_crlf_line_endings() -> None:
    c = read_conf({"top.conf": DumpFile("top.conf", b"[a]\r\nx=1\r\n\r\ny=2\r\n")}, "top.conf")
    assert values(c, "a") == {"x": "1", "y": "2"}
    assert c.first("a").option("y").loc == Loc("top.conf", 4)  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "blocking", "line"), [
    (None, True, 0),
    (b"x=1\x00\n", True, 0),
    (b"x=1\ncaf\xe9=1\n", False, 2),
])
def test_unreadable_binary_and_latin1_included_files(data: bytes | None, blocking: bool, line: int) -> None:
    t = files({"top.conf": "[a]\n#include inc.conf\n"})
    t["inc.conf"] = DumpFile("inc.conf", data, None if data is not None else "permission denied")
    c = read_conf(t, "top.conf")
    assert len(c.issues) == 1
    issue = c.issues[0]
    assert issue.blocking is blocking and issue.loc == Loc("inc.conf", line)
    assert c.complete is not blocking
    if not blocking:
        assert c.first("a").get("café") == "1"  # type: ignore[union-attr]
