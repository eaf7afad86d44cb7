#!/usr/bin/env python3
"""Renders vernier's HTML reports in headless Chromium as a person would open them, and fails on a
console message (the pages have no scripts: any message is an error, e.g. a resource it tried to
fetch), a missing plot, an empty plot, or a blank screenshot. Keeps the screenshots for a reader.

usage: check_report_chromium.py VERNIER CHROMIUM TEXT OUT_DIR
Makes its own material: a seeded synthetic model (vernier synth), compare and advise reports from it,
and a report rendered from saved JSON."""
import html.parser
import os
import struct
import subprocess
import sys
import zlib

vernier, chromium, text, out = sys.argv[1:5]
os.makedirs(out, exist_ok=True)

# the plots each page must draw (section data-plot ids), and the non-plot sections
PLOTS = {"compare": ["kld-bits", "heatmap", "histogram", "kv-context", "speed-bits"],
         "advise": ["memory", "ceiling", "kv-context"]}
failures = []


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(args)}\n{r.stderr}")
    return r.stdout


class Sections(html.parser.HTMLParser):
    """Per <section data-plot=ID>: how many <svg> and how many elements of class 'mark' it holds."""

    def __init__(self):
        super().__init__()
        self.current, self.depth, self.found = None, 0, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and "data-plot" in a:
            self.current, self.depth = a["data-plot"], 0
            self.found[self.current] = {"svg": 0, "marks": 0}
        elif self.current:
            if tag == "section":
                self.depth += 1
            if tag == "svg":
                self.found[self.current]["svg"] += 1
            if "mark" in (a.get("class") or "").split():
                self.found[self.current]["marks"] += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "section" and self.current:
            if self.depth == 0:
                self.current = None
            else:
                self.depth -= 1


def png_stats(path):
    """(width, height, share of non-white pixels, distinct colours) of an 8-bit RGB(A) PNG."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"PNG depth {depth} colour type {ctype}"
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw, stride = zlib.decompress(idat), w * bpp
    prev, ink, colours, i = bytearray(stride), 0, set(), 0
    for y in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):  # undo the PNG row filter
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1: line[x] = (line[x] + a) & 255
            elif f == 2: line[x] = (line[x] + b) & 255
            elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        if y % 4 == 0:  # every 4th row is plenty for these statistics
            for x in range(0, stride, bpp * 2):
                px = bytes(line[x:x + 3])
                colours.add(px)
                ink += px != b"\xff\xff\xff"
        prev = line
    return w, h, ink / ((h // 4 + 1) * (w // 2 + 1)), len(colours)


def check(page, kind):
    name = os.path.splitext(os.path.basename(page))[0]
    shot = os.path.join(out, name + ".png")
    r = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                        "--enable-logging=stderr", "--v=0", "--window-size=1280,3000", f"--screenshot={shot}", "file://" + os.path.abspath(page)],
                       capture_output=True, text=True, timeout=120)
    console = [l for l in r.stderr.splitlines() if ":CONSOLE" in l]
    if console:
        failures.append(f"{page}: console messages:\n  " + "\n  ".join(console))
    if not os.path.exists(shot):
        failures.append(f"{page}: no screenshot (chromium exit {r.returncode}): {r.stderr[-2000:]}")
        return
    s = Sections()
    s.feed(open(page, encoding="utf-8").read())
    for plot in PLOTS[kind]:
        got = s.found.get(plot)
        if not got or got["svg"] == 0:
            failures.append(f"{page}: plot '{plot}' is missing")
        elif got["marks"] == 0:
            failures.append(f"{page}: plot '{plot}' is empty")
    w, h, ink, colours = png_stats(shot)
    if ink < 0.02 or colours < 20:
        failures.append(f"{page}: the screenshot looks blank ({ink:.1%} non-white, {colours} colours)")
    print(f"{page}: {len(s.found)} sections, marks " + ", ".join(f"{k} {v['marks']}" for k, v in s.found.items() if v['svg']) +
          f"; screenshot {shot} {w}x{h}, {ink:.0%} non-white, {colours} colours")


model = os.path.join(out, "synth.gguf")
sh(vernier, "synth", "--force", "-o", model, "--dim", "128", "--ffn", "256", "--layers", "2", "--vocab", "300", "--ctx", "256")
compare_html, advise_html = os.path.join(out, "compare.html"), os.path.join(out, "advise.html")
saved = sh(vernier, "compare", model, "--schemes", "int8-channel,int4-asym-g32,Q4_0,nf4-b64", "--methods", "rtn,gptq", "-f", text, "--calib", text,
           "--calib-windows", "4", "-c", "64", "--chunks", "4", "--decode-tokens", "8", "--quiet", "--json", "--html", compare_html)
check(compare_html, "compare")
sh(vernier, "advise", "--hardware", "h200", "--params", "70e9", "--ctx", "8192", "--batch", "16", "--html", advise_html)
check(advise_html, "advise")
json_path, from_json = os.path.join(out, "saved.json"), os.path.join(out, "from-json.html")
open(json_path, "w").write(saved)
sh(vernier, "report", json_path, "-o", from_json)
check(from_json, "compare")
if failures:
    sys.exit("FAIL:\n" + "\n".join(failures))
print("ok")
