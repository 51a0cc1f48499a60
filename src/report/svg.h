/* A small SVG writer for the report's figures: escaping, a plot frame with
 * "nice" ticks and labelled axes, line series with a shaded band, error
 * bars, a legend, and a heatmap with a colour bar, all appended to an es_buf
 * (util/text_buf.h). The output is plain SVG 1.1 text with no scripts and no
 * external resources, so that it can be inlined into the HTML page or saved
 * alone. Fonts are sans-serif at 12-16 px so that a figure is readable at
 * its natural size. */
#ifndef ES_REPORT_SVG_H
#define ES_REPORT_SVG_H

#include <stddef.h>

#include "util/text_buf.h"

/* Appends s with & < > " ' written as entities (valid in XML text and attributes). */
void svg_escape(es_buf *b, const char *s);

/* The drawing area of one plot: data ranges mapped onto a pixel rectangle. */
typedef struct svg_plot {
    double x_min, x_max, y_min, y_max; /* data units */
    double left, top, width, height;   /* pixels */
} svg_plot;

/* Starts a width x height figure with its title on top. */
void svg_begin(es_buf *b, int width, int height, const char *title);
void svg_end(es_buf *b);
/* Widens [*lo, *hi] a little and onto round numbers; handles lo == hi and NAN. */
void svg_nice_range(double *lo, double *hi);
/* Frame, grid, ticks with numbers, and the axis labels (units in the label). */
void svg_axes(es_buf *b, const svg_plot *p, const char *x_label, const char *y_label);
/* A line through (x[i], y[i]); NAN values break the line. */
void svg_line(es_buf *b, const svg_plot *p, const double *x, const double *y, size_t n,
              const char *colour);
/* A shaded band between lo[i] and hi[i]; NAN values split the band. */
void svg_band(es_buf *b, const svg_plot *p, const double *x, const double *lo, const double *hi,
              size_t n, const char *colour);
/* A dot at (x, y) with a vertical bar from lo to hi (bar omitted when NAN). */
void svg_point_ci(es_buf *b, const svg_plot *p, double x, double y, double lo, double hi,
                  const char *colour);
/* A vertical dashed line at data x (an event marker). */
void svg_vline(es_buf *b, const svg_plot *p, double x, const char *label);
/* A legend box at pixel (x, y): one coloured swatch and name per entry. */
void svg_legend(es_buf *b, double x, double y, const char *const *names, const char *const *colours,
                int n);
/* A text line (escaped) at pixel (x, y); anchor "start", "middle" or "end". */
void svg_text(es_buf *b, double x, double y, int size, const char *anchor, const char *text);
/* rows x cols cells of v[r * cols + c] (NAN drawn grey) coloured on a
 * diverging scale over [v_min, v_max]; cells with mark[r * cols + c] set get
 * a dot; a colour bar with v_label on the right. Row/col labels are indices. */
void svg_heatmap(es_buf *b, const svg_plot *area, const double *v, const unsigned char *mark,
                 int rows, int cols, double v_min, double v_max, const char *row_label,
                 const char *col_label, const char *v_label);
/* The colour of series i in a fixed, colour-blind-friendly palette. */
const char *svg_colour(int i);

#endif
