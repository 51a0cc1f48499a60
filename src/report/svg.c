/* The SVG writer of the report (see svg.h). Everything is appended to an
 * sbuf; coordinates are printed with one decimal, enough for a screen and
 * small enough to keep an inlined page light. */
#include "report/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ buffer -- */

static int sbuf_reserve(sbuf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + extra + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

void sbuf_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0 || sbuf_reserve(b, (size_t)need) < 0) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)need + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

void sbuf_puts(sbuf *b, const char *s) {
    size_t n = strlen(s);
    if (sbuf_reserve(b, n) < 0) return;
    memcpy(b->data + b->len, s, n + 1);
    b->len += n;
}

void sbuf_escape(sbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': sbuf_puts(b, "&amp;"); break;
        case '<': sbuf_puts(b, "&lt;"); break;
        case '>': sbuf_puts(b, "&gt;"); break;
        case '"': sbuf_puts(b, "&quot;"); break;
        case '\'': sbuf_puts(b, "&#39;"); break;
        default:
            /* control bytes are not allowed in XML 1.0 */
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') sbuf_puts(b, "?");
            else sbuf_printf(b, "%c", *s);
        }
    }
}

char *sbuf_take(sbuf *b) {
    if (b->failed || sbuf_reserve(b, 0) < 0) {
        sbuf_free(b);
        return NULL;
    }
    char *s = b->data;
    memset(b, 0, sizeof *b);
    return s;
}

void sbuf_free(sbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ----------------------------------------------------------- figures -- */

static const char *const font = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";

const char *svg_colour(int i) {
    /* Okabe-Ito: distinguishable with the common colour-vision deficiencies */
    static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                          "#E69F00", "#56B4E9", "#000000", "#F0E442"};
    return palette[(unsigned)i % 8];
}

void svg_begin(sbuf *b, int width, int height, const char *title) {
    sbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                   "viewBox=\"0 0 %d %d\" %s font-size=\"13\">\n", width, height, width, height, font);
    sbuf_puts(b, "<title>");
    sbuf_escape(b, title);
    sbuf_puts(b, "</title>\n");
    sbuf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
    svg_text(b, width / 2.0, 24, 16, "middle", title);
}

void svg_end(sbuf *b) { sbuf_puts(b, "</svg>\n"); }

void svg_text(sbuf *b, double x, double y, int size, const char *anchor, const char *text) {
    sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\">", x, y, size, anchor);
    sbuf_escape(b, text);
    sbuf_puts(b, "</text>\n");
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

void svg_axes(sbuf *b, const svg_plot *p, const char *x_label, const char *y_label) {
    char label[32];
    double xs = tick_step(p->x_max - p->x_min), ys = tick_step(p->y_max - p->y_min);
    for (double v = ceil(p->x_min / xs) * xs; v <= p->x_max + xs * 1e-9; v += xs) {
        double x = px_x(p, v);
        sbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                    x, p->top, x, p->top + p->height);
        tick_label(label, sizeof label, v, xs);
        svg_text(b, x, p->top + p->height + 17, 12, "middle", label);
    }
    for (double v = ceil(p->y_min / ys) * ys; v <= p->y_max + ys * 1e-9; v += ys) {
        double y = px_y(p, v);
        sbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n",
                    p->left, y, p->left + p->width, y);
        tick_label(label, sizeof label, v, ys);
        svg_text(b, p->left - 6, y + 4, 12, "end", label);
    }
    sbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                   "stroke=\"#333333\"/>\n", p->left, p->top, p->width, p->height);
    svg_text(b, p->left + p->width / 2, p->top + p->height + 38, 14, "middle", x_label);
    double cx = p->left - 52, cy = p->top + p->height / 2;
    sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 %.1f %.1f)\">", cx, cy, cx, cy);
    sbuf_escape(b, y_label);
    sbuf_puts(b, "</text>\n");
}

void svg_line(sbuf *b, const svg_plot *p, const double *x, const double *y, size_t n,
              const char *colour) {
    size_t i = 0;
    while (i < n) {
        while (i < n && !isfinite(y[i])) i++;
        size_t start = i;
        while (i < n && isfinite(y[i])) i++;
        if (i == start) break;
        if (i - start == 1) { /* a lone point: a dot, since a line needs two */
            sbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n",
                        px_x(p, x[start]), px_y(p, y[start]), colour);
            continue;
        }
        sbuf_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colour);
        for (size_t k = start; k < i; k++)
            sbuf_printf(b, "%s%.1f,%.1f", k > start ? " " : "", px_x(p, x[k]), px_y(p, y[k]));
        sbuf_puts(b, "\"/>\n");
    }
}

void svg_band(sbuf *b, const svg_plot *p, const double *x, const double *lo, const double *hi,
              size_t n, const char *colour) {
    size_t i = 0;
    while (i < n) {
        while (i < n && !(isfinite(lo[i]) && isfinite(hi[i]))) i++;
        size_t start = i;
        while (i < n && isfinite(lo[i]) && isfinite(hi[i])) i++;
        if (i - start < 2) continue;
        sbuf_printf(b, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"", colour);
        for (size_t k = start; k < i; k++) sbuf_printf(b, "%.1f,%.1f ", px_x(p, x[k]), px_y(p, hi[k]));
        for (size_t k = i; k-- > start;)
            sbuf_printf(b, "%.1f,%.1f%s", px_x(p, x[k]), px_y(p, lo[k]), k > start ? " " : "");
        sbuf_puts(b, "\"/>\n");
    }
}

void svg_point_ci(sbuf *b, const svg_plot *p, double x, double y, double lo, double hi,
                  const char *colour) {
    if (!isfinite(y)) return;
    if (isfinite(lo) && isfinite(hi))
        sbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2\"/>\n", px_x(p, x), px_y(p, lo), px_x(p, x), px_y(p, hi), colour);
    sbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", px_x(p, x), px_y(p, y), colour);
}

void svg_vline(sbuf *b, const svg_plot *p, double x, const char *label) {
    double px = px_x(p, x);
    sbuf_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#555555\" "
                   "stroke-dasharray=\"4 3\"/>\n", px, p->top, px, p->top + p->height);
    svg_text(b, px + 4, p->top + 14, 12, "start", label);
}

void svg_legend(sbuf *b, double x, double y, const char *const *names, const char *const *colours,
                int n) {
    size_t longest = 4;
    for (int i = 0; i < n; i++) longest = strlen(names[i]) > longest ? strlen(names[i]) : longest;
    double w = 34 + 7.5 * (double)longest, h = 8 + 20.0 * n;
    sbuf_printf(b, "<g class=\"legend\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"#ffffff\" fill-opacity=\"0.85\" stroke=\"#999999\"/>\n", x, y, w, h);
    for (int i = 0; i < n; i++) {
        double row = y + 16 + 20.0 * i;
        sbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"16\" height=\"8\" fill=\"%s\"/>\n",
                    x + 8, row - 8, colours[i]);
        svg_text(b, x + 30, row, 13, "start", names[i]);
    }
    sbuf_puts(b, "</g>\n");
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

static void heat_cell(sbuf *b, double x, double y, double w, double h, double v, double v_min,
                      double v_max) {
    int r = 204, g = 204, bl = 204;
    if (isfinite(v)) diverging((v - v_min) / (v_max - v_min), &r, &g, &bl);
    sbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "fill=\"rgb(%d,%d,%d)\"/>\n", x, y, w, h, r, g, bl);
}

static void colour_bar(sbuf *b, const svg_plot *area, double v_min, double v_max, const char *v_label) {
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
    sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" "
                   "transform=\"rotate(90 %.1f %.1f)\">", cx, cy, cx, cy);
    sbuf_escape(b, v_label);
    sbuf_puts(b, "</text>\n");
}

void svg_heatmap(sbuf *b, const svg_plot *area, const double *v, const unsigned char *mark,
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
                sbuf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"#000000\"/>\n",
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
    sbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                   "stroke=\"#333333\"/>\n", area->left, area->top, area->width, area->height);
    svg_text(b, area->left + area->width / 2, area->top + area->height + 36, 14, "middle", col_label);
    double cx = area->left - 40, cy = area->top + area->height / 2;
    sbuf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 %.1f %.1f)\">", cx, cy, cx, cy);
    sbuf_escape(b, row_label);
    sbuf_puts(b, "</text>\n");
    colour_bar(b, area, v_min, v_max, v_label);
}
