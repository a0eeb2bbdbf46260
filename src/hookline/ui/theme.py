"""The portal's brand colour as CSS variables, kept readable in both themes.

A SaaS picks one colour; links and buttons use it on the light and on the dark
background, so it is darkened or lightened until it reaches WCAG AA contrast (4.5:1)
there, and the text on it (``--on-primary``) is black or white, whichever reads better."""

from __future__ import annotations

LIGHT_SURFACE = "#ffffff"  # app.css's --surface, light
DARK_SURFACE = "#181a24"  # app.css's --surface, dark
AA = 4.5

Rgb = tuple[float, float, float]


def parse_hex(color: str) -> Rgb:
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"{color!r} is not a #rrggbb colour")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def to_hex(rgb: Rgb) -> str:
    return "#" + "".join(f"{round(min(255.0, max(0.0, c))):02x}" for c in rgb)


def luminance(rgb: Rgb) -> float:
    def channel(c: float) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Rgb, b: Rgb) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def readable_on(color: Rgb, background: Rgb) -> Rgb:
    """``color`` mixed toward black or white (away from ``background``) in small steps
    until it has AA contrast against ``background``."""
    target = (0.0, 0.0, 0.0) if luminance(background) > 0.5 else (255.0, 255.0, 255.0)
    mixed = color
    for step in range(21):
        t = step / 20
        r, g, b = (c + (goal - c) * t for c, goal in zip(color, target, strict=True))
        mixed = (r, g, b)
        if contrast(mixed, background) >= AA:
            return mixed
    return mixed


def text_on(color: Rgb) -> Rgb:
    black, white = (0.0, 0.0, 0.0), (255.0, 255.0, 255.0)
    return white if contrast(white, color) >= contrast(black, color) else black


def theme_css(primary: str) -> str:
    base = parse_hex(primary)
    light = readable_on(base, parse_hex(LIGHT_SURFACE))
    dark = readable_on(base, parse_hex(DARK_SURFACE))
    return (
        "/* the portal's brand colour (HOOKLINE_PORTAL_PRIMARY_COLOR) */\n"
        f":root {{ --primary: {to_hex(light)}; --on-primary: {to_hex(text_on(light))}; }}\n"
        f':root[data-theme="dark"] {{ --primary: {to_hex(dark)};'
        f" --on-primary: {to_hex(text_on(dark))}; }}\n"
    )
