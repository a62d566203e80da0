"""The report's palette: one colour per meaning, shared by the CSS, the charts and the diagrams."""

INK, MUTED, GRID = "#1f2933", "#6b7785", "#e3e7ec"


BLUE, ORANGE, GREEN, RED, PURPLE, GREY = (
    "#2563eb",
    "#d97706",
    "#15803d",
    "#b91c1c",
    "#7c3aed",
    "#9aa5b1",
)
