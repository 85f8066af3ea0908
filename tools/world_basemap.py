"""Build watcher/desk/static/world.svg, the desk's offline basemap, from Natural Earth's
1:110m countries (public domain) as packaged in TopoJSON by the npm package world-atlas
(ISC, Mike Bostock):

    npm pack world-atlas@2 && tar xzf world-atlas-2.0.2.tgz
    python tools/world_basemap.py package/countries-110m.json watcher/desk/static/world.svg

Equirectangular, viewBox 0 0 360 180: x = lon + 180, y = 90 - lat (the page plots alert
places the same way). One path per country, coordinates to 0.1 degree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HEADER = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 360 180" '
          'width="360" height="180">\n'
          '<!-- Natural Earth 1:110m countries (public domain), via world-atlas 2 (ISC). -->\n'
          '<rect width="360" height="180" fill="#dfe9f3"/>\n'
          '<g fill="#f7f5ef" stroke="#9aa5b1" stroke-width="0.15" stroke-linejoin="round">\n')


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """TopoJSON arcs, delta-decoded and unquantized, as (lon, lat) lists."""
    scale = topology["transform"]["scale"]
    shift = topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * scale[0] + shift[0], y * scale[1] + shift[1]))
        arcs.append(points)
    return arcs


def ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc[1:] if points else arc)
    return points


def path_data(rings: list[list[tuple[float, float]]]) -> str:
    parts = []
    for points in rings:
        coords = []
        last = None
        for lon, lat in points:
            xy = f"{lon + 180:.1f} {90 - lat:.1f}"
            if xy != last:
                coords.append(xy)
                last = xy
        if len(coords) > 2:
            parts.append("M" + "L".join(coords) + "Z")
    return "".join(parts)


def build(source: Path) -> str:
    topology = json.loads(source.read_text())
    arcs = decode_arcs(topology)
    paths = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        polygons = {"Polygon": [geometry.get("arcs", [])],
                    "MultiPolygon": geometry.get("arcs", [])}.get(geometry["type"], [])
        rings = [ring(arcs, r) for polygon in polygons for r in polygon]
        data = path_data(rings)
        if data:
            paths.append(f'<path d="{data}"/>')
    return HEADER + "\n".join(paths) + "\n</g>\n</svg>\n"


if __name__ == "__main__":
    Path(sys.argv[2]).write_text(build(Path(sys.argv[1])))
