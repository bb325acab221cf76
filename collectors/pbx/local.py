"""Read a PBX from a local folder: a copy of /etc/asterisk, or a "root-like" dump holding
etc/asterisk, etc/fail2ban, var/log/asterisk/cdr-csv/Master.csv, etc/hostname and the recorded
`asterisk -rx` outputs in asterisk-rx/<key>.txt."""

from __future__ import annotations

import os
from pathlib import Path

from collectors.pbx.cdr import drop_partial_first_line, sample_master_csv, tail_window
from collectors.pbx.dump import CLI_COMMANDS, CdrSample, PbxDump
from collectors.pbx.errors import PbxAccessError
from collectors.pbx.redact import redact_config
from collectors.pbx.tree_rules import LocalFs, fail2ban_include, os_reason, walk_tree

CLI_OUTPUT_MAX_BYTES = 16 * 1024 * 1024


def read_local(path: Path, *, instance: str | None = None, cdr_csv: Path | None = None,
               cdr_rows: int = 2000) -> PbxDump:
    """The dump of the PBX whose files are under `path` (see the module doc for the two layouts).
    `cdr_csv` names the Master.csv to sample instead of the dump's own. Raises PbxAccessError when
    `path` does not exist, is not a folder or holds no file."""
    path = Path(path)
    if not path.exists():
        raise PbxAccessError(f"{path}: no such folder")
    if not path.is_dir():
        raise PbxAccessError(f"{path}: not a folder")
    fs = LocalFs()
    root_like = (path / "etc" / "asterisk").is_dir()
    ast_root = path / "etc" / "asterisk" if root_like else path
    dump = PbxDump(instance="", origin=f"dir:{path.absolute()}")

    walk = walk_tree(fs, str(ast_root), label="asterisk")
    if not walk.files:
        raise PbxAccessError(f"{ast_root}: holds no file (expected an /etc/asterisk tree)")
    dump.asterisk = walk.files
    dump.notes.extend(walk.notes)

    if root_like:
        f2b_root = path / "etc" / "fail2ban"
        if f2b_root.is_dir():
            try:
                f2b = walk_tree(fs, str(f2b_root), label="fail2ban", include=fail2ban_include)
                dump.fail2ban = f2b.files
                dump.notes.extend(f2b.notes)
            except PbxAccessError as exc:
                dump.notes.append(str(exc))
        else:
            dump.notes.append("fail2ban: no etc/fail2ban in the dump")
        _read_cli(path / "asterisk-rx", dump)
        hostname = _small_text(path / "etc" / "hostname")
        if hostname:
            dump.identity["hostname"] = hostname
    else:
        dump.notes.append("fail2ban: not available (the folder is an /etc/asterisk copy)")
        for key in CLI_COMMANDS:
            dump.cli_errors[key] = "not recorded"

    freepbx_id = dump.asterisk.get("freepbx-id")
    if freepbx_id is not None and freepbx_id.data is not None:
        text = freepbx_id.data.decode("utf-8", "replace").strip()
        if text:
            dump.identity["freepbx_id"] = text

    csv_path = cdr_csv if cdr_csv is not None else (
        path / "var" / "log" / "asterisk" / "cdr-csv" / "Master.csv" if root_like else None)
    if csv_path is not None:
        sample = read_csv_sample(csv_path, cdr_rows)
        if sample is None:
            dump.notes.append(f"cdr: no {csv_path}")
        else:
            dump.cdr.append(sample)
    elif not root_like:
        dump.notes.append("cdr: no CDR file given")

    dump.instance = instance or dump.identity.get("hostname") or path.absolute().name or str(path)
    return dump


def read_csv_sample(csv_path: Path, rows: int) -> CdrSample | None:
    """A sample of the last `rows` rows of a local Master.csv; None when the file does not exist."""
    store = f"csv:{csv_path.absolute()}"
    if csv_path.exists() and not csv_path.is_file():
        return CdrSample(store=store, error="not a regular file")
    try:
        with open(csv_path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            window = tail_window(size, rows)
            offset = size - window
            fh.seek(offset)
            data = fh.read(window)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return CdrSample(store=store, error=f"cannot read: {os_reason(exc)}")
    return sample_master_csv(drop_partial_first_line(data, offset), store, rows)


def _read_cli(folder: Path, dump: PbxDump) -> None:
    for key in CLI_COMMANDS:
        file = folder / f"{key}.txt"
        if file.exists() and not file.is_file():
            dump.cli_errors[key] = f"{file.name} is not a regular file"
            continue
        try:
            with open(file, "rb") as fh:
                data = fh.read(CLI_OUTPUT_MAX_BYTES + 1)
        except FileNotFoundError:
            dump.cli_errors[key] = "not recorded"
            continue
        except OSError as exc:
            dump.cli_errors[key] = f"cannot read {file.name}: {os_reason(exc)}"
            continue
        if len(data) > CLI_OUTPUT_MAX_BYTES:
            dump.cli_errors[key] = f"larger than {CLI_OUTPUT_MAX_BYTES} bytes; not read"
            continue
        dump.cli[key] = redact_config(f"cli/{key}", data).decode("utf-8", "replace")


def _small_text(file: Path) -> str | None:
    if not file.is_file():
        return None
    try:
        with open(file, "rb") as fh:
            return fh.read(4096).decode("utf-8", "replace").strip() or None
    except OSError:
        return None
