"""Draws the extension's icon, images/icon.png: a charter (a sheet with ruled lines)
under a red approval seal with a check mark, on a dark blue tile.

Original artwork; regenerate with `python3 images/make-icon.py` (needs Pillow).
"""

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
SCALE = 4  # draw large, then downsample for smooth edges
S = SIZE * SCALE


def px(v: float) -> int:
    return round(v * SCALE)


def main() -> None:
    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    # Tile.
    d.rounded_rectangle((0, 0, S - 1, S - 1), radius=px(44), fill=(24, 52, 96, 255))

    # The charter: a sheet with a folded corner and ruled lines.
    left, top, right, bottom, fold = 54, 34, 178, 214, 30
    d.polygon(
        [
            (px(left), px(top)),
            (px(right - fold), px(top)),
            (px(right), px(top + fold)),
            (px(right), px(bottom)),
            (px(left), px(bottom)),
        ],
        fill=(246, 243, 234, 255),
    )
    d.polygon(
        [(px(right - fold), px(top)), (px(right - fold), px(top + fold)), (px(right), px(top + fold))],
        fill=(206, 200, 184, 255),
    )
    for i, width in enumerate((84, 100, 92, 100, 60)):
        y = 74 + i * 24
        d.rounded_rectangle(
            (px(left + 18), px(y), px(left + 18 + width), px(y + 9)),
            radius=px(4),
            fill=(24, 52, 96, 255),
        )

    # The seal: a red ring with a check mark, over the sheet's lower right corner.
    cx, cy, r = 180, 180, 52
    d.ellipse((px(cx - r), px(cy - r), px(cx + r), px(cy + r)), fill=(200, 30, 44, 255))
    ring = r - 9
    d.ellipse(
        (px(cx - ring), px(cy - ring), px(cx + ring), px(cy + ring)),
        outline=(255, 236, 236, 255),
        width=px(5),
    )
    d.line(
        [(px(cx - 22), px(cy + 1)), (px(cx - 6), px(cy + 17)), (px(cx + 24), px(cy - 15))],
        fill=(255, 255, 255, 255),
        width=px(11),
        joint="curve",
    )

    out = img.resize((SIZE, SIZE), Image.LANCZOS)
    out.save(Path(__file__).with_name("icon.png"), optimize=True)


if __name__ == "__main__":
    main()
