/*
 * svg.c - the run as a chart: one bar per row, the speedup on a log
 * scale from 1x (right of it mproc is better), the row's goal drawn across
 * its bar, rows grouped by area.  Plain SVG written by hand: no plotting
 * dependency, and it renders in a browser or on GitHub as it is.
 */
#include "mpbench.h"
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 1000
#define LABEL_X 10        /* row names start here */
#define PLOT_X0 320       /* the log axis spans PLOT_X0 .. PLOT_X1 */
#define PLOT_X1 880
#define TOP 78            /* the first row's top */
#define ROW_H 18
#define GROUP_H 26        /* an area's heading */
#define BOTTOM 70

#define C_OK "#2e7d32"    /* the goal met */
#define C_MISS "#c62828"  /* the goal missed */
#define C_NONE "#78909c"  /* no goal */

struct scale {
	double lo, hi;    /* decades at the ends of the axis */
};

static double xpos(const struct scale *s, double v)
{
	if (v < s->lo)
		v = s->lo;
	if (v > s->hi)
		v = s->hi;
	return PLOT_X0 + (PLOT_X1 - PLOT_X0) * log10(v / s->lo) /
	                 log10(s->hi / s->lo);
}

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		}
	}
}

/* The area of a row: its name up to the first '.' or '/'. */
static size_t area_len(const char *name)
{
	return strcspn(name, "./");
}

static bool same_area(const struct mpb_row *a, const struct mpb_row *b)
{
	size_t n = area_len(a->name);
	return n == area_len(b->name) && !strncmp(a->name, b->name, n);
}

/* Whole decades around every speedup and goal, and around 0.5x .. 2x. */
static struct scale scale_of(const struct mpb_row *const *rows, int n)
{
	double lo = 0.5, hi = 2;
	for (int i = 0; i < n; i++) {
		double v[2] = { rows[i]->speedup, rows[i]->goal };
		for (int k = 0; k < 2; k++) {
			if (v[k] > 0 && v[k] < lo)
				lo = v[k];
			if (v[k] > hi)
				hi = v[k];
		}
	}
	return (struct scale){ pow(10, floor(log10(lo))),
	                       pow(10, ceil(log10(hi))) };
}

static void axis(FILE *f, const struct scale *s, int y0, int y1)
{
	for (double d = s->lo; d <= s->hi * 1.001; d *= 10) {
		for (int m = 1; m < 10; m++) {
			double v = d * m;
			if (v > s->hi * 1.001)
				break;
			double x = xpos(s, v);
			fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" "
			        "x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
			        "stroke-width=\"%s\"/>\n",
			        x, y0, x, y1,
			        m == 1 ? (fabs(v - 1) < 1e-9 ? "#000" : "#999")
			               : "#e4e4e4",
			        m == 1 && fabs(v - 1) < 1e-9 ? "1.5" : "1");
			if (m == 1)
				fprintf(f, "<text x=\"%.1f\" y=\"%d\" "
				        "text-anchor=\"middle\">%gx</text>\n",
				        x, y0 - 6, v);
		}
	}
}

static void bar(FILE *f, const struct scale *s, const struct mpb_row *r,
                int y)
{
	double lo, hi;
	bool noise = mpb_speedup_range(r, &lo, &hi);
	double mark = r->goal > 0 ? r->goal : 1;
	noise = noise && lo < mark && hi >= mark;
	fprintf(f, "<text x=\"%d\" y=\"%d\">", LABEL_X + 12, y + 13);
	xml_text(f, r->name);
	fprintf(f, "</text>\n");
	if (r->speedup > 0) {
		double x1 = xpos(s, 1), xs = xpos(s, r->speedup);
		const char *color = r->goal <= 0 ? C_NONE
		                    : r->speedup >= r->goal ? C_OK : C_MISS;
		fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%d\" "
		        "width=\"%.1f\" height=\"%d\" fill=\"%s\"%s><title>",
		        fmin(x1, xs), y + 3, fmax(fabs(xs - x1), 1.0),
		        ROW_H - 6, color, noise ? " fill-opacity=\"0.5\"" : "");
		xml_text(f, r->name);
		fprintf(f, ": %.3gx", r->speedup);
		if (r->goal > 0)
			fprintf(f, " (goal %.3gx)", r->goal);
		fprintf(f, "</title></rect>\n");
		/* The figure right of both the bar and the goal's mark. */
		double xt = fmax(x1, xs);
		if (r->goal > 0)
			xt = fmax(xt, xpos(s, r->goal) + 2);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.3gx%s</text>\n",
		        xt + 4, y + 13, r->speedup, noise ? "~" : "");
	} else {
		double xt = xpos(s, 1);
		if (r->goal > 0)
			xt = fmax(xt, xpos(s, r->goal) + 2);
		fprintf(f, "<text class=\"skipped\" x=\"%.1f\" y=\"%d\" "
		        "fill=\"#888\">(no ratio: ", xt + 4, y + 13);
		xml_text(f, r->skipped[0] ? r->skipped : "no baseline");
		fprintf(f, ")</text>\n");
	}
	if (r->goal > 0) {
		double xg = xpos(s, r->goal);
		fprintf(f, "<line class=\"goal\" x1=\"%.1f\" y1=\"%d\" "
		        "x2=\"%.1f\" y2=\"%d\" stroke=\"#000\" "
		        "stroke-width=\"2.5\"/>\n", xg, y, xg, y + ROW_H);
	}
}

static void legend(FILE *f, const struct mpb_run *run, int y)
{
	static const struct { const char *color, *text; } key[] = {
		{ C_OK, "goal met" }, { C_MISS, "goal missed" },
		{ C_NONE, "no goal" },
	};
	for (int k = 0; k < 3; k++) {
		int x = LABEL_X + 150 * k;
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"12\" "
		        "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", x,
		        y, key[k].color, x + 20, y + 11, key[k].text);
	}
	fprintf(f, "<line x1=\"460\" y1=\"%d\" x2=\"460\" y2=\"%d\" "
	        "stroke=\"#000\" stroke-width=\"2.5\"/><text x=\"470\" "
	        "y=\"%d\">the row's goal; pale bar, ~: within noise</text>\n",
	        y - 2, y + 14, y + 11);
	fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#555\">%s</text>\n",
	        LABEL_X, y + 34,
	        run->quick == 1 ? "A --quick run: rows checked, not goals "
	                          "(goals are judged on full runs, one area "
	                          "at a time, on an idle machine)."
	                        : "Goals are judged on full runs, one area at "
	                          "a time, on an idle machine.");
}

/*
 * The rows by area, areas in the order they first come, rows in theirs
 * (a registry file may hold several areas, interleaved: sync's lock, event
 * and cond rows come, then its python rows of each).
 */
static const struct mpb_row **by_area(const struct mpb_row *rows, int n)
{
	const struct mpb_row **out = calloc((size_t)n + 1, sizeof(*out));
	bool *taken = calloc((size_t)n + 1, sizeof(*taken));
	int k = 0;
	if (!out || !taken) {
		free(out);
		free(taken);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		for (int j = i; j < n; j++) {
			if (!taken[j] && same_area(&rows[i], &rows[j])) {
				taken[j] = true;
				out[k++] = &rows[j];
			}
		}
	}
	free(taken);
	return out;
}

static void chart(FILE *f, const struct mpb_row *const *rows, int n,
                  const struct mpb_run *run)
{
	struct scale s = scale_of(rows, n);
	int groups = 0;
	for (int i = 0; i < n; i++)
		groups += i == 0 || !same_area(rows[i - 1], rows[i]);
	int y_end = TOP + n * ROW_H + groups * GROUP_H;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	        "height=\"%d\" viewBox=\"0 0 %d %d\" "
	        "font-family=\"sans-serif\" font-size=\"12\">\n"
	        "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
	        WIDTH, y_end + BOTTOM, WIDTH, y_end + BOTTOM);
	fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"16\" "
	        "font-weight=\"bold\">mpbench: how many times better mproc "
	        "did than each baseline (log scale)%s</text>\n", LABEL_X,
	        run->quick == 1 ? ", a --quick run" : "");
	fprintf(f, "<text x=\"%d\" y=\"40\" fill=\"#555\">Right of 1x "
	        "mproc is better: baseline/mproc for times, mproc/baseline "
	        "for rates; the ratio of the medians of the repetitions",
	        LABEL_X);
	if (run->reps > 0)
		fprintf(f, " (%d a side)", run->reps);
	fprintf(f, ".</text>\n");
	axis(f, &s, TOP - 8, y_end);
	int y = TOP;
	for (int i = 0; i < n; i++) {
		if (i == 0 || !same_area(rows[i - 1], rows[i])) {
			fprintf(f, "<text x=\"%d\" y=\"%d\" "
			        "font-weight=\"bold\">%.*s</text>\n", LABEL_X,
			        y + 18, (int)area_len(rows[i]->name),
			        rows[i]->name);
			y += GROUP_H;
		}
		bar(f, &s, rows[i], y);
		y += ROW_H;
	}
	legend(f, run, y_end + 24);
	fprintf(f, "</svg>\n");
}

int mpb_write_svg(const char *path, const struct mpb_row *rows, int n,
                  const struct mpb_run *run)
{
	const struct mpb_row **order = by_area(rows, n);
	FILE *f = order ? fopen(path, "w") : NULL;
	if (!f) {
		free(order);
		return -1;
	}
	chart(f, order, n, run);
	free(order);
	return fclose(f) == 0 ? 0 : -1;
}
