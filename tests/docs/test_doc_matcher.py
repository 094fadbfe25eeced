"""The doc-command runner's own rules: which commands it finds, which it skips, and how it
compares what a doc shows with what a command printed (run_doc_commands.py)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import run_doc_commands as docs  # noqa: E402

H = "aa99a150679f9de41f2ffb544d21d2a0befcfc5aa77f9f9ae01a0c810cd7fd98"


def blocks_of(tmp_path, text):
    f = tmp_path / "doc.md"
    f.write_text(text)
    return docs.read_blocks(f, "doc.md")


def commands(tmp_path, text):
    blocks = blocks_of(tmp_path, text)
    out = []
    for k, b in enumerate(blocks):
        if b.info == "sh":
            out += docs.commands_of(b, blocks[k + 1] if k + 1 < len(blocks) else None)
    return out


def test_a_block_that_follows_a_command_block_is_its_last_commands_output(tmp_path):
    cmds = commands(tmp_path, "```sh\ncurl -s a\ncurl -s b\n```\n```json\n{\"x\": 1}\n```\n")
    assert [c.text for c in cmds] == ["curl -s a", "curl -s b"]
    assert cmds[0].shown is None
    assert cmds[1].shown == ['{"x": 1}']


def test_a_block_after_text_is_not_output(tmp_path):
    cmds = commands(tmp_path, "```sh\ncurl -s a\n```\nThe body:\n```json\n{\"x\": 1}\n```\n")
    assert cmds[0].shown is None


def test_prompt_blocks_continuations_and_open_quotes(tmp_path):
    cmds = commands(
        tmp_path,
        "```sh\n$ pos-wallet send \\\n    --to x\nsent 1\n$ curl -d '{\n  \"a\": 1}'\n```\n",
    )
    assert cmds[0].text == "pos-wallet send \\\n    --to x"
    assert cmds[0].shown == ["sent 1"]
    assert cmds[1].text == "curl -d '{\n  \"a\": 1}'"


def test_illustrative_marks_on_a_line_and_on_a_block(tmp_path):
    cmds = commands(
        tmp_path,
        "```sh\ncurl -s a   # illustrative: a placeholder\ncurl -s b\n```\n"
        "```sh\n# illustrative: the synopsis\ncurl -s c\n```\n",
    )
    assert [docs.is_illustrative(c) for c in cmds] == [True, False, True]


def test_a_comment_that_only_mentions_the_word_elsewhere_is_not_a_mark(tmp_path):
    cmds = commands(
        tmp_path,
        "```sh\n# fetch the tip\ncurl -s 'x #illustrative'\ncurl -s \"a\\\" #illustrative\"\n"
        "curl -s a\\ #illustrative\n```\n",
    )
    assert [docs.is_illustrative(c) for c in cmds] == [False, False, False]


@pytest.mark.parametrize(
    "shown, printed",
    [
        ("sent da1d…9847 (TRANSFER)", f"sent {H} (TRANSFER)"),
        ("final at height 18 in block 45f6…8a35", "final at height 7 in block 00ff"),
        ("p50 2, p99 3", "p50 12, p99 30"),
        (f"address {H}", "address " + "0" * 64),
        ("seed 7: ok  (509x real time)", "seed 7: ok (12x real time)"),
    ],
)
def test_lines_match_with_values_that_change_from_run_to_run(shown, printed):
    assert docs.match_lines([shown], printed) is None


@pytest.mark.parametrize(
    "shown, printed",
    [
        ("sent da1d…9847 (TRANSFER)", "posted 00ff (TRANSFER)"),
        ("sent da1d…9847 (TRANSFER)", "sent xyz (TRANSFER)"),
        ("final at height 18", "final at height"),
        ("slashed validators: none", "slashed validators: 1"),
    ],
)
def test_lines_that_differ_in_words_or_kinds_do_not_match(shown, printed):
    assert docs.match_lines([shown], printed) is not None


def test_shown_lines_must_come_in_order():
    assert docs.match_lines(["a 1", "b 2"], "a 1\nx\nb 2\n") is None
    assert docs.match_lines(["b 2", "a 1"], "a 1\nb 2\n") is not None


def test_ellipses_outside_strings_mean_more_keys_or_elements():
    shown = '{"height": 12, "blocks": [{"height": 0, …}, …], "pool": [ … up to 100, in order … ]}'
    pattern = docs.lenient_json(shown)
    assert docs.match_json(
        pattern, {"height": 3, "blocks": [{"height": 0, "hash": H}, {"height": 1}], "pool": []}
    ) is None


def test_json_fields_must_be_the_docs_exactly_unless_elided():
    pattern = docs.lenient_json('{"chain_id": "pos-demo", "tip": "…", "height": 12}')
    assert docs.match_json(pattern, {"chain_id": "pos-demo", "tip": H, "height": 40}) is None
    assert "no such field" in docs.match_json(pattern, {"chain_id": "pos-demo", "tip": H})
    assert "does not show: peers" in docs.match_json(
        pattern, {"chain_id": "pos-demo", "tip": H, "height": 1, "peers": 2}
    )
    assert "pos-demo" in docs.match_json(pattern, {"chain_id": "other", "tip": H, "height": 1})
    assert "number" in docs.match_json(pattern, {"chain_id": "pos-demo", "tip": H, "height": "1"})


def test_json_strings_keep_their_literal_parts():
    pattern = docs.lenient_json('{"address": "127.0.0.1:54952", "next": "5:0", "id": "0ccb…"}')
    assert docs.match_json(pattern, {"address": "127.0.0.1:7", "next": "12:3", "id": H}) is None
    assert docs.match_json(pattern, {"address": "[::1]:7", "next": "12:3", "id": H}) is not None
    assert docs.match_json(pattern, {"address": "127.0.0.1:7", "next": "12", "id": H}) is not None
    assert docs.match_json(pattern, {"address": "127.0.0.1:7", "next": "1:3", "id": "x"}) is not None


def test_every_array_element_must_have_a_shown_shape():
    pattern = docs.lenient_json('{"votes": [{"validator": "95ba…", "target_height": 12}]}')
    assert docs.match_json(pattern, {"votes": []}) is None
    assert docs.match_json(pattern, {"votes": [{"validator": H, "target_height": 3}]}) is None
    assert docs.match_json(pattern, {"votes": [{"validator": H}]}) is not None


def test_compare_tells_json_from_text():
    assert docs.compare(['{"status": "pending"}'], '{"status":"pending"}') is None
    assert docs.compare(['{"status": "pending"}'], "pending") is not None
    assert docs.compare([], "anything") is None


def test_the_wallet_command_is_found_past_the_node_option():
    words = ["pos-wallet", "--node", "http://127.0.0.1:5001", "--json", "sign", "send"]
    assert docs.wallet_command(words) == "sign"
    assert docs.wallet_command(["pos-wallet", "account", "aa99"]) == "account"
    assert docs.wallet_command(["pos-wallet", "--help"]) == ""
