"""(b) of issue 17 at scale: libpff reads every folder and every item of a PST smsync wrote,
with the same counts, keys and categories as the database. Not run by CI (11 minutes at full
size; CI runs the test below, (a) and (c) at full size); run it by hand in the interop venv:

    SMSYNC_PST_KEEP=/tmp/pst cargo test --release --test pst_write -- --ignored --nocapture
    .venv-interop/bin/python scripts/interop/pst_scale.py /tmp/pst

The test writes the PST of `db seed --scale 200000 --sis 20000` (SMSYNC_PST_SCALE=C,S for
another size), checks it with smsync's reader and the structural checker, and keeps the file
and `expected.json` (each item's key, folder and categories) in the folder given.
"""

import json
import re
import sys
import time
from pathlib import Path

import pypff


KEY = re.compile(r"^(SM-[LUT]\d+|SI-\d+)$")


def main():
    folder = Path(sys.argv[1])
    expected = {i["key"]: i for i in json.loads((folder / "expected.json").read_text())}
    started = time.perf_counter()
    f = pypff.file()
    f.open(str(folder / "Service Master.pst"))
    root = f.get_root_folder()
    top = {root.get_sub_folder(i).name: root.get_sub_folder(i)
           for i in range(root.number_of_sub_folders)}
    ipm = top["Top of Personal Folders"]
    folders = {ipm.get_sub_folder(i).name: ipm.get_sub_folder(i)
               for i in range(ipm.number_of_sub_folders)}
    assert {"Contacts", "Tasks", "Deleted Items"} <= set(folders), sorted(folders)
    seen = {}
    keywords = [None]
    for name in ("Contacts", "Tasks"):
        fo = folders[name]
        for i in range(fo.number_of_sub_messages):
            keys, multi = [], {}
            for rs in fo.get_sub_message(i).record_sets:
                for e in rs.entries:
                    if e.entry_type < 0x8000:
                        continue
                    assert e.name_to_id_map_entry is not None, \
                        f"{name} item {i}: libpff cannot name property {e.entry_type:#x}"
                    data = e.data or b""
                    if e.value_type == 0x001F and KEY.match(data.decode("utf-16-le")):
                        keys.append(data.decode("utf-16-le"))
                    if e.value_type == 0x101F:
                        multi[e.entry_type] = mv_unicode(data)
            assert len(keys) == 1, f"{name} item {i}: keys {keys}"
            key = keys[0]
            assert key not in seen, f"{key} twice"
            want = expected.get(key, {}).get("categories")
            if keywords[0] is None and want:
                # The store's ID of PidNameKeywords, learned from the first item whose
                # categories only one property holds (pypff does not expose the names);
                # every later item is then read through that one ID.
                ids = [t for t, v in multi.items() if v == want]
                if len(ids) == 1:
                    keywords[0] = ids[0]
            seen[key] = {"folder": name, "categories": multi.get(keywords[0], []),
                         "multi": multi}
    f.close()
    assert keywords[0] is not None, "no item's categories found"
    for s in seen.values():
        s["categories"] = s.pop("multi").get(keywords[0], [])
    assert len(seen) == len(expected), f"libpff {len(seen)} items, expected {len(expected)}"
    for key, want in expected.items():
        got = seen.get(key)
        assert got is not None, f"{key} missing in libpff's view"
        assert got == {"folder": want["folder"], "categories": want["categories"]}, \
            f"{key}: libpff {got}, expected {want}"
    counts = {n: sum(1 for s in seen.values() if s["folder"] == n) for n in ("Contacts", "Tasks")}
    print(f"(b) libpff: {len(seen)} items ({counts['Contacts']} contacts, {counts['Tasks']} "
          f"tasks), keys, folders and categories as expected, in "
          f"{time.perf_counter() - started:.0f} s")


def mv_unicode(data):
    """A PT_MV_UNICODE value: count, offsets, UTF-16LE strings (as in suite.py)."""
    n = int.from_bytes(data[:4], "little")
    offs = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "little") for i in range(n)] + [len(data)]
    return [data[offs[i]:offs[i + 1]].decode("utf-16-le") for i in range(n)]


if __name__ == "__main__":
    main()
