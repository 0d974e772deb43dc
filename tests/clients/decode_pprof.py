#!/usr/bin/env python3
"""Decodes a pprof CPU profile (gzip'd profile.proto, as Go's net/http/pprof serves it) with a
protobuf wire-format reader written from profile.proto's field numbers, independently of weir,
and prints a JSON summary: sample types, period, sample count and total, function names, and
whether every sample's location ids resolve to locations with functions.

Usage: decode_pprof.py FILE
"""
import gzip
import json
import sys


def varint(b, i):
    shift = value = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def fields(b):
    """Yields (field number, wire type, value) of one message; length-delimited values as bytes."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wt}")
        yield num, wt, v


def ints(wt, v):
    """A repeated integer field: packed (bytes) or one varint."""
    if wt == 2:
        out, i = [], 0
        while i < len(v):
            x, i = varint(v, i)
            out.append(x)
        return out
    return [v]


def signed(x):
    return x - (1 << 64) if x >= 1 << 63 else x


def main():
    raw = open(sys.argv[1], "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    strings, sample_types, samples, locations, functions = [], [], [], {}, {}
    period = duration = 0
    for num, wt, v in fields(raw):
        if num == 6:
            strings.append(v.decode("utf-8"))
        elif num == 1:
            sample_types.append({n: x for n, _, x in fields(v)})
        elif num == 2:
            loc_ids, values = [], []
            for n, w, x in fields(v):
                if n == 1:
                    loc_ids += ints(w, x)
                elif n == 2:
                    values += [signed(y) for y in ints(w, x)]
            samples.append((loc_ids, values))
        elif num == 4:
            loc = {"id": 0, "functions": []}
            for n, _, x in fields(v):
                if n == 1:
                    loc["id"] = x
                elif n == 4:
                    line = {m: y for m, _, y in fields(x)}
                    loc["functions"].append(line.get(1, 0))
            locations[loc["id"]] = loc
        elif num == 5:
            f = {n: x for n, _, x in fields(v)}
            functions[f.get(1, 0)] = f
        elif num == 12:
            period = v
        elif num == 10:
            duration = v
    names = sorted({strings[f.get(2, 0)] for f in functions.values()})
    resolved = all(
        lid in locations and all(fid in functions for fid in locations[lid]["functions"])
        for lids, _ in samples for lid in lids
    )
    print(json.dumps({
        "sample_types": [[strings[t.get(1, 0)], strings[t.get(2, 0)]] for t in sample_types],
        "period": period,
        "duration_nanos": duration,
        "samples": len(samples),
        "sample_count_total": sum(vals[0] for _, vals in samples if vals),
        "functions": names,
        "locations_resolve": resolved,
        "string_table_starts_empty": bool(strings) and strings[0] == "",
    }))


if __name__ == "__main__":
    main()
