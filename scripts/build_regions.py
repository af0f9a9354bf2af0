"""Build ``config/regions.csv`` (GB/T 2260 provinces, cities, counties) from maintained package data.

Sources, downloaded as wheels from PyPI (no import of either package at run time):
- jionlp ``dictionary/china_location.zip``: the current division tree with 6-digit codes;
- cpca ``resources/adcodes.csv``: longitude/latitude per code, used for "neighbouring" regions.

Normalisation to GB/T 2260 semantics: the four municipalities get their city-level
"市辖区" node (110100 …, plus 500200 for Chongqing's counties); children that repeat their
parent's code (东莞 "市直辖行政区划", Hong Kong districts) are dropped.

Usage: ``python scripts/build_regions.py [--out config/regions.csv]`` (needs network to PyPI).
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MUNICIPALITY_CITIES = {"110100": "北京市", "120100": "天津市", "310100": "上海市", "500100": "重庆市", "500200": "重庆市(县)"}


def _wheel(name: str, into: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(into), name], check=True)
    return next(into.glob(f"{name}-*.whl"))


def build(out: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        jio = zipfile.ZipFile(_wheel("jionlp", Path(tmp)))
        inner = zipfile.ZipFile(io.BytesIO(jio.read("jionlp/dictionary/china_location.zip")))
        tree = inner.read("china_location.txt").decode("utf-8")
        cp = zipfile.ZipFile(_wheel("cpca", Path(tmp)))
        coords = {r["adcode"][:6]: (r["longitude"], r["latitude"])
                  for r in csv.DictReader(io.StringIO(cp.read("cpca/resources/adcodes.csv").decode("utf-8")))}
    rows: dict[str, dict[str, str]] = {}
    province = city = ""
    for line in tree.splitlines():
        depth = len(line) - len(line.lstrip("\t"))
        parts = line.strip().split("\t")
        if depth > 2 or len(parts) < 2 or not parts[1].isdigit():
            continue
        name, code = parts[0], parts[1]
        if depth == 0:
            province = code
            rows[code] = {"code": code, "name": name, "level": "province", "parent_code": ""}
        elif depth == 1:
            city = code if code != province else ""
            if city:
                rows[code] = {"code": code, "name": name, "level": "city", "parent_code": province}
        elif code not in rows and code != city:
            parent = code[:4] + "00"
            if code[:2] in ("11", "12", "31", "50"):
                parent = "500200" if code.startswith("5002") else code[:2] + "0100"
            rows[code] = {"code": code, "name": name, "level": "county", "parent_code": parent or province}
    for code, name in MUNICIPALITY_CITIES.items():
        rows[code] = {"code": code, "name": name, "level": "city", "parent_code": code[:2] + "0000"}
    for r in rows.values():  # a county whose city row is missing hangs from its province
        if r["parent_code"] and r["parent_code"] not in rows:
            r["parent_code"] = r["code"][:2] + "0000"
    for r in sorted(rows.values(), key=lambda r: ("province", "city", "county").index(r["level"])):
        lon, lat = coords.get(r["code"]) or coords.get(r["parent_code"]) or ("", "")
        if not lon and r["parent_code"] in rows:
            lon, lat = rows[r["parent_code"]].get("longitude", ""), rows[r["parent_code"]].get("latitude", "")
        r["longitude"], r["latitude"] = lon, lat
    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["code", "name", "level", "parent_code", "longitude", "latitude"], lineterminator="\n")
        w.writeheader()
        w.writerows(sorted(rows.values(), key=lambda r: r["code"]))
    return len(rows)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "config" / "regions.csv")
    print(build(ap.parse_args().out), "regions written")
