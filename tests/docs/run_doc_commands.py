#!/usr/bin/env python3
"""Runs the shell commands that README.md and docs/*.md show, like doctests.

Every command in a ```sh block whose program talks to a node (curl, pos-wallet, pos-interact)
or is pos-sim is run against a real local network in the state the docs start from: the demo
network's three validators (keys/genesis.json) after `pos-interact demo`, one fresh network per
document. The output a document shows after a command (the next ```json or plain block, or the
lines after a `$ ` prompt) is compared with what the command printed; README.md, "Documentation",
gives the rules. A command that cannot run as written is marked `# illustrative` in the doc
(on its line, or as a block's first line for the whole block) and is skipped and counted. Every
scenario file of examples/scenarios/ runs twice on one fresh network; a ```json block after a
line naming examples/scenarios/NAME.json must equal that file.

Exit 0 when everything ran as the docs say, 1 otherwise (or when no command ran).
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RUN_PROGRAMS = {"curl", "pos-wallet", "pos-interact", "pos-sim"}
# pos-wallet commands that never talk to a node.
OFFLINE_WALLET = {"keygen", "address", "sign", "verify"}
ELLIPSIS = "\u2026"
COMMAND_TIMEOUT_S = 180


class Block:
    def __init__(self, doc, line, info, lines, before, follows_previous):
        self.doc = doc
        self.line = line  # 1-based line of the opening fence
        self.info = info
        self.lines = lines
        self.before = before  # the last non-empty line before the fence
        self.follows_previous = follows_previous  # only blank lines since the previous block


class Command:
    def __init__(self, block, line, text, shown):
        self.block = block
        self.line = line
        self.text = text
        self.shown = shown  # the output lines the doc shows, or None

    @property
    def where(self):
        return f"{self.block.doc}:{self.line}"


def read_blocks(path, name):
    lines = path.read_text().split("\n")
    blocks = []
    i = 0
    last_text = ""
    last_close = None
    while i < len(lines):
        m = re.match(r"^\s*```(\S*)\s*$", lines[i])
        if not m:
            if lines[i].strip():
                last_text = lines[i].strip()
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
            j += 1
        follows = last_close is not None and all(not l.strip() for l in lines[last_close + 1 : i])
        blocks.append(Block(name, i + 1, m.group(1), lines[i + 1 : j], last_text, follows))
        last_close = j
        last_text = ""
        i = j + 1
    return blocks


def complete(text):
    """True when the text is whole shell words: no open quote and no trailing backslash."""
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
        return True
    except ValueError:
        return False


def commands_of(block, next_block):
    """The commands of a ```sh block and the output the doc shows for each."""
    body = block.lines
    first = next((l for l in body if l.strip()), "")
    block.illustrative = bool(re.match(r"^\s*#.*\billustrative\b", first))
    prompt = any(l.startswith("$ ") for l in body)
    commands = []
    i = 0
    while i < len(body):
        line = body[i]
        if prompt and not line.startswith("$ "):
            if commands:
                commands[-1].shown.append(line)
            i += 1
            continue
        text = line[2:] if prompt else line
        start = i
        while not complete(text) and i + 1 < len(body):
            i += 1
            text += "\n" + body[i]
        i += 1
        if not text.strip() or text.strip().startswith("#"):
            continue
        commands.append(Command(block, block.line + 1 + start, text, [] if prompt else None))
    if not prompt and commands and next_block is not None and next_block.follows_previous:
        if next_block.info in ("json", ""):
            commands[-1].shown = next_block.lines
    return commands


def program_of(text):
    words = shlex.split(text, comments=True)
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]
    return (os.path.basename(words[0]) if words else ""), words


def shell_comment(text):
    """The comment ending the command's text, as the shell reads it: a `#` outside quotes at the
    start of a word."""
    quote = None
    word_start = True
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quote != "'":
            i += 2
            word_start = False
            continue
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "#" and word_start:
            return text[i:]
        word_start = quote is None and c.isspace()
        i += 1
    return ""


def is_illustrative(cmd):
    return cmd.block.illustrative or bool(re.search(r"\billustrative\b", shell_comment(cmd.text)))


# ---------------------------------------------------------------- comparing what the doc shows


def value_pattern(text, flexible_spaces=False):
    """A regex for a value the doc shows. What differs from run to run stands for any value of
    its kind: a hex abbreviation (`5f1e…9a0b`) for any hex string, a whole 64-hex-digit hash or
    id for any other, a number for any number; a bare `…` stands for anything. The rest is
    literal."""
    out = ""
    for piece in re.split(r"([0-9a-f]*" + ELLIPSIS + r"[0-9a-f]*|\b[0-9a-f]{64}\b|\d+(?:\.\d+)?)",
                          text):
        if piece == ELLIPSIS:
            out += ".*?"
        elif ELLIPSIS in piece:
            out += "[0-9a-f]+"
        elif re.fullmatch(r"[0-9a-f]{64}", piece):
            out += "[0-9a-f]{64}"
        elif re.fullmatch(r"\d+(?:\.\d+)?", piece):
            out += r"\d+(?:\.\d+)?"
        elif flexible_spaces:
            out += r"\s+".join(re.escape(w) for w in re.split(r"\s+", piece))
        else:
            out += re.escape(piece)
    return out


def line_pattern(line):
    return re.compile("^" + value_pattern(line.strip(), flexible_spaces=True) + "$")


def match_lines(shown, actual):
    """Each shown line must match a printed line, in order."""
    printed = [l.strip() for l in actual.split("\n") if l.strip()]
    at = 0
    for line in shown:
        if not line.strip():
            continue
        pattern = line_pattern(line)
        while at < len(printed) and not pattern.match(printed[at]):
            at += 1
        if at == len(printed):
            return f"the doc shows a line the command did not print (in order): {line.strip()!r}"
        at += 1
    return None


MORE = {"\u2026more": True}


def lenient_json(text):
    """The doc's JSON, where `…` outside strings means "more keys" in an object and "more
    elements" in an array."""
    out = []
    stack = []
    in_string = False
    i = 0
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif c in "{[":
            stack.append(c)
            out.append(c)
        elif c in "}]":
            stack.pop()
            out.append(c)
        elif c == ELLIPSIS:
            # A description between ellipses ([ … up to 100 … ]) is part of the marker.
            j = text.find(ELLIPSIS, i + 1)
            close = min(x for x in (text.find("]", i), text.find("}", i), len(text)) if x >= 0)
            if 0 <= j < close and not text[i + 1 : j].strip().startswith(('"', "{", "[")):
                i = j
            out.append('"\u2026more": true' if stack and stack[-1] == "{" else '{"\u2026more": true}')
        else:
            out.append(c)
        i += 1
    return json.loads("".join(out))


def match_json(pattern, actual, path="$"):
    if isinstance(pattern, dict):
        if not isinstance(actual, dict):
            return f"{path}: the doc shows an object, the node gave {json.dumps(actual)[:80]}"
        more = pattern.get("\u2026more", False)
        for key, value in pattern.items():
            if key == "\u2026more":
                continue
            if key not in actual:
                return f"{path}: the doc shows \"{key}\", the node's answer has no such field"
            why = match_json(value, actual[key], f"{path}.{key}")
            if why:
                return why
        extra = sorted(set(actual) - set(pattern))
        if extra and not more:
            return f"{path}: the node gives fields the doc does not show: {', '.join(extra)}"
        return None
    if isinstance(pattern, list):
        if not isinstance(actual, list):
            return f"{path}: the doc shows an array, the node gave {json.dumps(actual)[:80]}"
        shapes = [p for p in pattern if p != MORE]
        for k, item in enumerate(actual):
            if shapes and all(match_json(s, item, f"{path}[{k}]") for s in shapes):
                return match_json(shapes[0], item, f"{path}[{k}]")
        return None
    if isinstance(pattern, bool) or pattern is None:
        # Flags (syncing, final, inbound) are the network's state of the moment: their kind only.
        if not isinstance(actual, bool) and not (pattern is None and actual is None):
            return f"{path}: the doc shows {json.dumps(pattern)}, the node gave {json.dumps(actual)}"
        return None
    if isinstance(pattern, (int, float)):
        if isinstance(actual, bool) or not isinstance(actual, (int, float)):
            return f"{path}: the doc shows a number, the node gave {json.dumps(actual)[:80]}"
        if isinstance(pattern, int) and not isinstance(actual, int):
            return f"{path}: the doc shows a whole number, the node gave {actual}"
        return None
    if not isinstance(actual, str):
        return f"{path}: the doc shows a string, the node gave {json.dumps(actual)[:80]}"
    if not re.fullmatch(value_pattern(pattern), actual, re.S):
        return f"{path}: the doc shows {pattern!r}, the node gave {actual!r}"
    return None


def compare(shown, stdout):
    text = "\n".join(shown).strip()
    if not text:
        return None
    if text.startswith(("{", "[")):
        try:
            pattern = lenient_json(text)
        except (ValueError, IndexError) as e:
            return f"the doc's output is not JSON even with its `…` read as elisions: {e}"
        try:
            actual = json.loads(stdout)
        except ValueError:
            return f"the doc shows JSON, the command printed: {stdout.strip()[:200]!r}"
        return match_json(pattern, actual)
    return match_lines(shown, stdout)


# ---------------------------------------------------------------- a local network


def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_for(what, check, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gave up after {seconds} s waiting for {what}")


class Network:
    """The demo network's three validators on ports the system picks."""

    def __init__(self, args, base):
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="net-", dir=base))
        self.procs = []
        self.rpc = []
        try:
            p2p_first = None
            for i in (1, 2, 3):
                peers = ["--peer", p2p_first] if p2p_first else []
                key = args.repo / "keys" / f"validator{i}.pem"
                rpc, p2p = self.start(f"validator{i}", key, peers)
                self.rpc.append(rpc)
                p2p_first = p2p_first or p2p
            wait_for("validator1 to have 2 peers",
                     lambda: http_json(self.url(1) + "/info")["peers"] == 2)
        except BaseException:
            self.stop()
            raise

    def start(self, name, key, peers):
        ports = self.dir / f"{name}.ports"
        log = open(self.dir / f"{name}.log", "w")
        cmd = [self.args.pos_node, "--p2p", "127.0.0.1:0", "--rpc", "127.0.0.1:0",
               "--ports-file", str(ports), "--key", str(key),
               "--genesis", str(self.args.repo / "keys" / "genesis.json"),
               "--data-dir", str(self.dir / name), "--sync-without-checkpoint"] + peers
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)

        def bound():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                   + (self.dir / f"{name}.log").read_text()[-2000:])
            return ports.exists() and ports.stat().st_size > 0

        wait_for(f"{name}'s ports file", bound, 30)
        bound_ports = json.loads(ports.read_text())
        return bound_ports["rpc"], f"127.0.0.1:{bound_ports['p2p']}"

    def url(self, n):
        return f"http://127.0.0.1:{self.rpc[n - 1]}"

    def port_for(self, doc_port):
        # The docs' ports: 5000 (the default) and 5001 are the first node, 5002 and 5003 the others.
        return self.rpc[max(doc_port - 5001, 0)]

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


def run_demo(args, net, env):
    r = subprocess.run([args.pos_interact, "demo", "--node", net.url(1), "--keys",
                        str(args.repo / "keys"), "--timeout", "60"],
                       capture_output=True, text=True, env=env, timeout=COMMAND_TIMEOUT_S)
    if r.returncode != 0:
        raise RuntimeError(f"pos-interact demo exited {r.returncode}: {r.stdout}{r.stderr}")


def workspace(args, base, net):
    """A working dir like the repository's root: keys/, examples/sim/, and examples/scenarios/
    with the scenarios' node URLs moved to the network's ports."""
    work = Path(tempfile.mkdtemp(prefix="work-", dir=base))
    (work / "keys").symlink_to(args.repo / "keys")
    (work / "examples").mkdir()
    (work / "examples" / "sim").symlink_to(args.repo / "examples" / "sim")
    scenarios = work / "examples" / "scenarios"
    scenarios.mkdir()
    for f in sorted((args.repo / "examples" / "scenarios").iterdir()):
        if f.suffix == ".json":
            (scenarios / f.name).write_text(move_ports(f.read_text(), net))
        else:
            shutil.copy2(f, scenarios / f.name)
    return work


def move_ports(text, net):
    if net is None:
        return text
    return re.sub(r"\b(localhost|127\.0\.0\.1):(500[0-3])\b",
                  lambda m: f"{m.group(1)}:{net.port_for(int(m.group(2)))}", text)


def prepare(cmd, net):
    """The command as run: the docs' ports moved to the network's, and `--node` added where the
    doc relies on the default one."""
    text = move_ports(cmd.text, net)
    program, words = program_of(cmd.text)
    if program in ("pos-wallet", "pos-interact") and "--node" not in words:
        if not (program == "pos-wallet" and wallet_command(words) in OFFLINE_WALLET):
            text = re.sub(r"^(\s*\S*" + program + r")\b", r"\1 --node " + net.url(1), text, 1)
    return text


def wallet_command(words):
    """pos-wallet's command word: the first word after the program that is neither an option
    nor `--node`'s URL."""
    rest = iter(words[1:])
    for w in rest:
        if w == "--node":
            next(rest, None)
        elif not w.startswith("-"):
            return w
    return ""


def needs_network(cmd):
    program, words = program_of(cmd.text)
    if program == "pos-sim":
        return False
    if program == "pos-wallet":
        return wallet_command(words) not in OFFLINE_WALLET
    return True


def error_answer(stdout):
    try:
        answer = json.loads(stdout)
    except ValueError:
        return None
    return answer.get("error") if isinstance(answer, dict) else None


def run_command(cmd, text, work, env):
    try:
        r = subprocess.run(["bash", "-o", "pipefail", "-c", text], cwd=work, env=env,
                           capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"no end within {COMMAND_TIMEOUT_S} s"
    if r.returncode != 0:
        return f"exited {r.returncode}: {(r.stdout + r.stderr).strip()[-1500:]}"
    program, _ = program_of(cmd.text)
    shown = "\n".join(cmd.shown or [])
    if program == "curl" and error_answer(r.stdout) and '"error"' not in shown:
        return f"the node answered an error: {r.stdout.strip()[:300]}"
    why = compare(cmd.shown or [], r.stdout)
    if why:
        return why + f"\n    printed: {r.stdout.strip()[:1500]}"
    return None


# ---------------------------------------------------------------- the run


class Tally:
    def __init__(self):
        self.ran = 0
        self.illustrative = 0
        self.other = {}
        self.failures = []

    def fail(self, where, why):
        self.failures.append(f"{where}: {why}")
        print(f"FAIL {where}: {why}", flush=True)


def check_scenario_blocks(args, docs, tally):
    checked = 0
    for blocks in docs.values():
        for b in blocks:
            m = re.search(r"examples/scenarios/([\w.-]+\.json)", b.before)
            if b.info != "json" or not m:
                continue
            where = f"{b.doc}:{b.line}"
            try:
                shown = json.loads("\n".join(b.lines))
                file = json.loads((args.repo / "examples" / "scenarios" / m.group(1)).read_text())
            except (OSError, ValueError) as e:
                tally.fail(where, f"the scenario block or its file does not load: {e}")
                continue
            if shown != file:
                tally.fail(where, f"the block differs from examples/scenarios/{m.group(1)}")
            checked += 1
    return checked


def run_doc(args, name, commands, base, env, tally):
    runnable = []
    for cmd in commands:
        program, _ = program_of(cmd.text)
        if program not in RUN_PROGRAMS:
            tally.other[program] = tally.other.get(program, 0) + 1
        elif is_illustrative(cmd):
            tally.illustrative += 1
            print(f"skip {cmd.where} (illustrative): {cmd.text.splitlines()[0][:100]}")
        else:
            runnable.append(cmd)
    if not runnable:
        return
    net = None
    try:
        if any(needs_network(c) for c in runnable):
            net = Network(args, base)
            run_demo(args, net, env)
        work = workspace(args, base, net)
        for cmd in runnable:
            text = prepare(cmd, net)
            why = run_command(cmd, text, work, env)
            tally.ran += 1
            if why:
                tally.fail(cmd.where, f"{text.splitlines()[0][:120]}\n    {why}")
            else:
                print(f"ok   {cmd.where}: {cmd.text.splitlines()[0][:100]}", flush=True)
    except RuntimeError as e:
        tally.fail(name, str(e))
    finally:
        if net:
            net.stop()


def run_scenarios(args, base, env, tally):
    """Every scenario file, twice, on one fresh demo network: a scenario must not depend on
    having run once before."""
    net = Network(args, base)
    ran = 0
    try:
        work = workspace(args, base, net)
        files = sorted(p.name for p in (work / "examples" / "scenarios").glob("*.json"))
        files.remove("demo.json")
        for name in ["demo.json"] + files:
            for attempt in (1, 2):
                where = f"examples/scenarios/{name} (run {attempt})"
                r = subprocess.run([args.pos_interact, "run", f"examples/scenarios/{name}",
                                    "--node", net.url(1), "--timeout", "60"], cwd=work, env=env,
                                   capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
                ran += 1
                if r.returncode != 0:
                    tally.fail(where, f"exited {r.returncode}: {(r.stdout + r.stderr)[-1500:]}")
                else:
                    print(f"ok   {where}", flush=True)
    except RuntimeError as e:
        tally.fail("examples/scenarios", str(e))
    finally:
        net.stop()
    return ran


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", type=Path, required=True)
    for program in ("pos-node", "pos-wallet", "pos-interact", "pos-sim"):
        ap.add_argument("--" + program, required=True, dest=program.replace("-", "_"))
    args = ap.parse_args()
    args.repo = args.repo.resolve()
    for program in ("pos_node", "pos_wallet", "pos_interact", "pos_sim"):
        setattr(args, program, str(Path(getattr(args, program)).resolve()))

    base = Path(tempfile.mkdtemp(prefix="pos-doc-commands-"))
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for program in ("pos-node", "pos-wallet", "pos-interact", "pos-sim"):
        (bin_dir / program).symlink_to(getattr(args, program.replace("-", "_")))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}")

    docs = {"README.md": read_blocks(args.repo / "README.md", "README.md")}
    for p in sorted((args.repo / "docs").glob("*.md")):
        docs[f"docs/{p.name}"] = read_blocks(p, f"docs/{p.name}")

    tally = Tally()
    try:
        scenario_blocks = check_scenario_blocks(args, docs, tally)
        for name, blocks in docs.items():
            commands = []
            for k, b in enumerate(blocks):
                if b.info == "sh":
                    commands += commands_of(b, blocks[k + 1] if k + 1 < len(blocks) else None)
            run_doc(args, name, commands, base, env, tally)
        scenario_runs = run_scenarios(args, base, env, tally)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    other = ", ".join(f"{n} {p}" for p, n in sorted(tally.other.items()))
    print(f"doc commands: {tally.ran} ran, {tally.illustrative} skipped as illustrative; "
          f"not run (they build, install, start nodes or benchmark): {other}")
    print(f"scenario files: {scenario_runs} runs; scenario blocks equal to their files: "
          f"{scenario_blocks}")
    if tally.failures:
        print(f"{len(tally.failures)} failed:")
        for f in tally.failures:
            print("  " + f)
        return 1
    if tally.ran == 0 or scenario_runs == 0:
        print("no doc command or scenario ran: that is a failure")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
