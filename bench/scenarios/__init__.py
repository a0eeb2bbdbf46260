"""One module per benchmark scenario; each has run(ctx) and its time caps."""
