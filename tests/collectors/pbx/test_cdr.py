"""CDR samples: Master.csv and `mysql --batch` output, reduced to devices and contexts."""

from __future__ import annotations

import pytest

from collectors.pbx.cdr import drop_partial_first_line, reduce_channel, sample_master_csv, sample_mysql_tsv
from collectors.pbx.dump import CdrRow, CdrSample

# accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp, lastdata, start, answer, end,
# duration, billsec, disposition, amaflags, uniqueid, userfield
ROW_A = (b'"acme","100","0039333444","from-internal","""Alice"" <100>","PJSIP/100-0000002a",'
         b'"PJSIP/trunk-acme-0000002b","Dial","PJSIP/0039333444@trunk-acme,300","2024-05-01 10:00:00",'
         b'"2024-05-01 10:00:05","2024-05-01 10:01:00",60,55,"ANSWERED","DOCUMENTATION","1714557600.42",""\n')
ROW_B = (b'"","0612345678","200","from-pstn","""0612345678"" <0612345678>","SIP/trunk-00000001",'
         b'"Local/200@from-internal-00000012;1","Dial","Local/200@from-internal","2024-05-01 11:00:00",'
         b'"2024-05-01 11:00:01","2024-05-01 11:00:30",29,28,"ANSWERED","DOCUMENTATION","1714561200.43",""\n')
PHONE_NUMBERS = ("0039333444", "0612345678", "Alice")


@pytest.mark.parametrize(("name", "reduced"), [
    ("PJSIP/10-0000002a", "PJSIP/10"),
    ("SIP/trunk-00000001", "SIP/trunk"),
    ("IAX2/x-1234", "IAX2/x"),
    ("Local/0039333444@from-internal-00000012;1", "Local/*@from-internal"),
    ("Local/100@from-cafe", "Local/*@from-cafe"),
    ("DAHDI/1-1", "DAHDI/1"),
    ("DAHDI/i1/0612345678-5", "DAHDI/i1"),
    ("PJSIP/my-trunk-0000002b<ZOMBIE>", "PJSIP/my-trunk"),
    ("AsyncGoto/PJSIP/10-0000002a", "AsyncGoto/PJSIP/10"),
    ("", ""),
    ("0612345678", "*"),
])
def test_reduce_channel(name: str, reduced: str) -> None:
    assert reduce_channel(name) == reduced


def test_master_csv_rows_without_phone_numbers() -> None:
    sample = sample_master_csv(ROW_A + ROW_B, "csv:/var/log/asterisk/cdr-csv/Master.csv", 100)
    assert sample.error is None
    assert sample.rows_read == 2
    assert sample.rows == (
        CdrRow("acme", "PJSIP/100", "PJSIP/trunk-acme", "from-internal"),
        CdrRow("", "SIP/trunk", "Local/*@from-internal", "from-pstn"),
    )
    text = repr(sample.as_dict())
    for number in PHONE_NUMBERS:
        assert number not in text
    assert CdrSample.from_dict(sample.as_dict()) == sample


def test_master_csv_keeps_the_last_rows() -> None:
    data = b"".join(ROW_A.replace(b'"acme"', f'"acct{i}"'.encode()) for i in range(10))
    sample = sample_master_csv(data, "csv:x", 3)
    assert [r.accountcode for r in sample.rows] == ["acct7", "acct8", "acct9"]
    assert sample.rows_read == 3


def test_master_csv_tolerates_bad_lines() -> None:
    short = b'"x","1","2"\n'
    long = ROW_A.rstrip(b"\n") + b',"peer","linked","7","extra","more"\n'
    latin1 = ROW_A.replace(b'"acme"', b'"caf\xe9"')
    truncated = ROW_B[:40]
    sample = sample_master_csv(short + long + b"\x00" + latin1 + b"\n\n" + truncated, "csv:x", 100)
    assert sample.error is None
    assert [r.accountcode for r in sample.rows] == ["acme", "caf\ufffd"]
    assert sample.rows_read == 4  # the short line, two good ones and the unterminated last line


def test_master_csv_with_nothing_parsable() -> None:
    sample = sample_master_csv(b"garbage\nmore garbage\n", "csv:x", 100)
    assert sample.rows == ()
    assert sample.error is not None and "2 malformed" in sample.error
    assert sample_master_csv(b"", "csv:x", 100) == CdrSample(store="csv:x")


def test_drop_partial_first_line() -> None:
    assert drop_partial_first_line(b"tial\nrow2\n", 10) == b"row2\n"
    assert drop_partial_first_line(b"row1\nrow2\n", 0) == b"row1\nrow2\n"
    assert drop_partial_first_line(b"no newline", 5) == b""


# What `mysql --batch --raw --skip-column-names -e "SELECT accountcode, channel, dstchannel, dcontext …"`
# prints (recorded from MariaDB 10.11): tab-separated, NULL for NULL, newest first.
MYSQL_OUTPUT = (b"acme\tPJSIP/100-0000002a\tPJSIP/trunk-acme-0000002b\tfrom-internal\n"
                b"\tSIP/trunk-00000001\tLocal/0612345678@from-internal-00000012;2\tfrom-pstn\n"
                b"NULL\tPJSIP/200-00000031\t\text-local\n"
                b"broken line\n")


def test_mysql_tsv() -> None:
    sample = sample_mysql_tsv(MYSQL_OUTPUT, "mysql:asteriskcdrdb.cdr", 10)
    assert sample.store == "mysql:asteriskcdrdb.cdr"
    assert sample.rows == (
        CdrRow("acme", "PJSIP/100", "PJSIP/trunk-acme", "from-internal"),
        CdrRow("", "SIP/trunk", "Local/*@from-internal", "from-pstn"),
        CdrRow("", "PJSIP/200", "", "ext-local"),
    )
    assert sample.rows_read == 4
    assert sample.error is None
    assert sample_mysql_tsv(MYSQL_OUTPUT, "m", 1).rows == sample.rows[:1]
    assert sample_mysql_tsv(b"only\tthree\tfields\n", "m", 10).error is not None
    assert sample_mysql_tsv(b"", "m", 10) == CdrSample(store="m")
