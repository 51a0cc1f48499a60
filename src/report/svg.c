/* The SVG writer of the report (see svg.h). Everything is appended to an
 * es_buf; coordinates are printed with one decimal, enough for a screen and
 * small enough to keep an inlined page light. */
#include "report/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ escape -- */

void svg_escape(es_buf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': es_buf_puts(b, "&amp;"); break;
        case '<': es_buf_puts(b, "&lt;"); break;
        case '>': es_buf_puts(b, "&gt;"); break;
        case '"': es_buf_puts(b, "&quot;"); break;
        case '\'': es_buf_puts(b, "&#39;"); break;
        default:
            /* control bytes are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') es_buf_puts(b, "?");
            else es_buf_printf(b, "%c", *s);
        }
    }
}

/* ----------------------------------------------------------- figures -- */

static const char *const font = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

const char *svg_colour(int i) {
    /* Okabe-Ito: distinguishable with the common colour-vision deficiencies */
    static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                          "#E69F00", "#56B4E9", "#000000", "#F0E442"};
    return palette[(unsigned)i % 8];
}

void svg_begin(es_buf *b, int width, int height, const char *title) {
    es_buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" %s font-size=\"13\">\n", width, height, width, height, font);
    es_buf_puts(b, "<title>");
    svg_escape(b, title);
    es_buf_puts(b, "</title>\n");
    es_buf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
    svg_text(b, width / 2.0, 24, 16, "middle", title);
}

void svg_end(es_buf *b) { es_buf_puts(b, "</svg>\n"); }

void svg_text(es_buf *b, double x, double y, int size, const char *anchor, const char *text) {
    es_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\">", x, y, size, anchor);
    svg_escape(b, text);
    es_buf_puts(b, "</text>\n");
}

/* The tick step: 1, 2 or 5 times a power of ten, giving about 5 ticks. */
static double tick_step(double span) {
    if (!(span > 0) || !isfinite(span)) return 1;
    double raw = span / 5, mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void svg_nice_range(double *lo, double *hi) {
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
        return;
    }
    if (*hi - *lo <= 1e-12 * fmax(1, fabs(*hi))) {
        double pad = fabs(*hi) > 0 ? fabs(*hi) * 0.1 : 1;
        *lo -= pad;
        *hi += pad;
    }
    double step = tick_step(*hi - *lo);
    *lo = floor(*lo / step) * step;
    *hi = ceil(*hi / step) * step;
}

static double px_x(const svg_plot *p, double x) {
    return p->left + (x - p->x_min) / (p->x_max - p->x_min) * p->width;
}
static double px_y(const svg_plot *p, double y) {
    return p->top + p->height - (y - p->y_min) / (p->y_max - p->y_min) * p->height;
}

static void tick_label(char *out, size_t size, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(out, size, "%.*f", decimals > 6 ? 6 : decimals, v);
}

/* The frame of a plot area, the x label below it (x_below px under the
 * frame) and the y label turned upright at y_left px to its left. */
static void frame_and_labels(es_buf *b, const svg_plot *p, const char *x_label, double x_below,
                             const char *y_label, double y_left) {
    es_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                     "stroke=\"#333333\"/>\n", p->left, p->top, p->width, p->height);
    svg_text(b, p->left + p->width / 2, p->top + p->height + x_below, 14, "middle", x_label);
    double cx = p->left - y_left, cy = p->top + p->height / 2;
    es_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" "
                     "transform=\"rotate(-90 %.1f %.1f)\">", cx, cy, cx, cy);
    svg_escape(b, y_label);
    es_buf_puts(b, "</text>\n");
}

void svg_axes(es_buf *b, const svg_plot *p, const char *x_label, const char *y_label) {
    char label[32];
    double xs = tick_step(p->x_max - p->x_min), ys = tick_step(p->y_max - p->y_min);
    for (double v = ceil(p->x_min / xs) * xs; v <= p->x_max + xs * 1e-9; v += xs) {
        double x = px_x(p, v);
        es_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                    x, p->top, x, p->top + p->height);
        tick_label(label, sizeof label, v, xs);
        svg_text(b, x, p->top + p->height + 17, 12, "middle", label);
    }
    for (double v = ceil(p->y_min / ys) * ys; v <= p->y_max + ys * 1e-9; v += ys) {
        double y = px_y(p, v);
        es_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                    p->left, y, p->left + p->width, y);
        tick_label(label, sizeof label, v, ys);
        svg_text(b, p->left - 6, y + 4, 12, "end", label);
    }
    frame_and_labels(b, p, x_label, 38, y_label, 52);
}

void svg_line(es_buf *b, const svg_plot *p, const double *x, const double *y, size_t n,
              const char *colour) {
    size_t i = 0;
    while (i < n) {
        while (i < n && !isfinite(y[i])) i++;
        size_t start = i;
        while (i < n && isfinite(y[i])) i++;
        if (i == start) break;
        if (i - start == 1) { /* a lone point: a dot, since a line needs two */
            es_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        px_x(p, x[start]), px_y(p, y[start]), colour);
            continue;
        }
        es_buf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
        for (size_t k = start; k < i; k++)
            es_buf_printf(b, "%s%.1f,%.1f", k > start ? " " : "", px_x(p, x[k]), px_y(p, y[k]));
        es_buf_puts(b, "\"/>\n");
    }
}

void svg_band(es_buf *b, const svg_plot *p, const double *x, const double *lo, const double *hi,
              size_t n, const char *colour) {
    size_t i = 0;
    while (i < n) {
        while (i < n && !(isfinite(lo[i]) && isfinite(hi[i]))) i++;
        size_t start = i;
        while (i < n && isfinite(lo[i]) && isfinite(hi[i])) i++;
        if (i - start < 2) continue;
        es_buf_printf(b, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", colour);
        for (size_t k = start; k < i; k++) es_buf_printf(b, "%.1f,%.1f ", px_x(p, x[k]), px_y(p, hi[k]));
        for (size_t k = i; k-- > start;)
            es_buf_printf(b, "%.1f,%.1f%s", px_x(p, x[k]), px_y(p, lo[k]), k > start ? " " : "");
        es_buf_puts(b, "\"/>\n");
    }
}

void svg_point_ci(es_buf *b, const svg_plot *p, double x, double y, double lo, double hi,
                  const char *colour) {
    if (!isfinite(y)) return;
    if (isfinite(lo) && isfinite(hi))
        es_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2\"/>\n", px_x(p, x), px_y(p, lo), px_x(p, x), px_y(p, hi), colour);
    es_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", px_x(p, x), px_y(p, y), colour);
}

void svg_vline(es_buf *b, const svg_plot *p, double x, const char *label) {
    double px = px_x(p, x);
    es_buf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\" "
                   "stroke-dasharray=\"4 3\"/>\n", px, p->top, px, p->top + p->height);
    svg_text(b, px + 4, p->top + 14, 12, "start", label);
}

void svg_legend(es_buf *b, double x, double y, const char *const *names, const char *const *colours,
                int n) {
    size_t longest = 4;
    for (int i = 0; i < n; i++) longest = strlen(names[i]) > longest ? strlen(names[i]) : longest;
    double w = 34 + 7.5 * (double)longest, h = 8 + 20.0 * n;
    es_buf_printf(b, "<g class=\"legend\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n", x, y, w, h);
    for (int i = 0; i < n; i++) {
        double row = y + 16 + 20.0 * i;
        es_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"8\" fill=\"%s\"/>\n",
                    x + 8, row - 8, colours[i]);
        svg_text(b, x + 30, row, 13, "start", names[i]);
    }
    es_buf_puts(b, "</g>\n");
}

/* Diverging blue-white-red over t in [0, 1], white at 0.5. */
static void diverging(double t, int *r, int *g, int *bl) {
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    double s = fabs(t - 0.5) * 2;
    int end_r = t < 0.5 ? 33 : 178, end_g = t < 0.5 ? 102 : 24, end_b = t < 0.5 ? 172 : 43;
    *r = (int)lround(255 + (end_r - 255) * s);
    *g = (int)lround(255 + (end_g - 255) * s);
    *bl = (int)lround(255 + (end_b - 255) * s);
}

static void heat_cell(es_buf *b, double x, double y, double w, double h, double v, double v_min,
                      double v_max) {
    int r = 204, g = 204, bl = 204;
    if (isfinite(v)) diverging((v - v_min) / (v_max - v_min), &r, &g, &bl);
    es_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"rgb(%d,%d,%d)\"/>\n", x, y, w, h, r, g, bl);
}

static void colour_bar(es_buf *b, const svg_plot *area, double v_min, double v_max, const char *v_label) {
    double x = area->left + area->width + 24, steps = 20, h = area->height / steps;
    for (int i = 0; i < (int)steps; i++) {
        double v = v_max - (v_max - v_min) * (i + 0.5) / steps;
        heat_cell(b, x, area->top + h * i, 16, h + 0.5, v, v_min, v_max);
    }
    char label[32];
    for (int i = 0; i <= 4; i++) {
        double v = v_max - (v_max - v_min) * i / 4.0;
        snprintf(label, sizeof label, "%.2f", v);
        svg_text(b, x + 20, area->top + area->height * i / 4.0 + 4, 12, "start", label);
    }
    double cx = x + 70, cy = area->top + area->height / 2;
    es_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" "
                   "transform=\"rotate(90 %.1f %.1f)\">", cx, cy, cx, cy);
    svg_escape(b, v_label);
    es_buf_puts(b, "</text>\n");
}

void svg_heatmap(es_buf *b, const svg_plot *area, const double *v, const unsigned char *mark,
                 int rows, int cols, double v_min, double v_max, const char *row_label,
                 const char *col_label, const char *v_label) {
    if (rows <= 0 || cols <= 0) return;
    double cw = area->width / cols, ch = area->height / rows;
    char label[16];
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            double x = area->left + cw * c, y = area->top + ch * r;
            heat_cell(b, x, y, cw + 0.2, ch + 0.2, v[(size_t)r * cols + c], v_min, v_max);
            if (mark && mark[(size_t)r * cols + c])
                es_buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#000000\"/>\n",
                            x + cw / 2, y + ch / 2, fmin(cw, ch) * 0.18 + 0.5);
        }
    }
    int row_every = rows > 16 ? (rows + 15) / 16 : 1, col_every = cols > 16 ? (cols + 15) / 16 : 1;
    for (int r = 0; r < rows; r += row_every) {
        snprintf(label, sizeof label, "%d", r);
        svg_text(b, area->left - 6, area->top + ch * (r + 0.5) + 4, 12, "end", label);
    }
    for (int c = 0; c < cols; c += col_every) {
        snprintf(label, sizeof label, "%d", c);
        svg_text(b, area->left + cw * (c + 0.5), area->top + area->height + 16, 12, "middle", label);
    }
    frame_and_labels(b, area, col_label, 36, row_label, 40);
    colour_bar(b, area, v_min, v_max, v_label);
}
