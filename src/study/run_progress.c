/* Progress of a long run on stderr: on a terminal a bar redrawn in place
 *   [##########..........] 12/100 items  345.6 tokens/s  ETA 3m12s
 * and otherwise (a log file, a Slurm job) one plain line every ten seconds
 *   run: 12/100 items, 345.6 tokens/s, ETA 3m12s
 * The ETA assumes the remaining items take as long as the finished ones. */
#include <time.h>

#include "study/run.h"

#define TTY_INTERVAL_S 0.2
#define LINE_INTERVAL_S 10.0
#define BAR_WIDTH 24

double study_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void format_duration(double s, char *buf, size_t size) {
    long t = s < 0 ? 0 : (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, size, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, size, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, size, "%lds", t);
}

static void draw(study_progress *pg, double now, int final) {
    double elapsed = now - pg->t0;
    double rate = elapsed > 0 ? pg->tokens / elapsed : 0;
    char eta[32] = "?";
    if (pg->done > 0) format_duration(elapsed / pg->done * (double)(pg->total - pg->done), eta, sizeof eta);
    if (final) format_duration(elapsed, eta, sizeof eta);
    const char *eta_name = final ? "took" : "ETA";
    if (pg->tty) {
        char bar[BAR_WIDTH + 1];
        size_t fill = pg->total ? pg->done * BAR_WIDTH / pg->total : BAR_WIDTH;
        for (size_t i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = 0;
        fprintf(pg->out, "\r[%s] %zu/%zu items  %.1f tokens/s  %s %s\033[K%s", bar, pg->done,
                pg->total, rate, eta_name, eta, final ? "\n" : "");
    } else {
        fprintf(pg->out, "run: %zu/%zu items, %.1f tokens/s, %s %s\n", pg->done, pg->total, rate,
                eta_name, eta);
    }
    fflush(pg->out);
    pg->last_draw = now;
}

void study_progress_start(study_progress *pg, FILE *out, int tty, size_t total) {
    *pg = (study_progress){.out = out, .tty = tty, .total = total};
    pg->t0 = pg->last_draw = study_now();
    if (out && tty) draw(pg, pg->t0, 0);
}

void study_progress_update(study_progress *pg, int item_done) {
    if (item_done) pg->done++;
    else pg->tokens++;
    if (!pg->out) return;
    double now = study_now();
    if (now - pg->last_draw >= (pg->tty ? TTY_INTERVAL_S : LINE_INTERVAL_S)) draw(pg, now, 0);
}

void study_progress_finish(study_progress *pg, int interrupted) {
    if (!pg->out) return;
    draw(pg, study_now(), 1);
    if (interrupted)
        fprintf(pg->out, "run: stopped after %zu of %zu items; --resume continues\n", pg->done, pg->total);
}
