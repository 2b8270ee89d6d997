/* mesos_table.c: see mesos_table.h. */
#include "mesos_table.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct cm_cli_table {
    size_t ncols;
    const char *const *headers;
    char **cells; /* rows * ncols */
    size_t rows, cap;
};

struct cm_cli_table *cm_cli_table_new(size_t ncols, const char *const *headers)
{
    if (ncols == 0 || ncols > CM_CLI_TABLE_MAX_COLS)
        abort();
    struct cm_cli_table *t = cm_xcalloc(1, sizeof *t);
    t->ncols = ncols;
    t->headers = headers;
    return t;
}

void cm_cli_table_add(struct cm_cli_table *t, const char *const *cells)
{
    if (t->rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = realloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
        if (!t->cells)
            abort();
    }
    for (size_t i = 0; i < t->ncols; i++)
        t->cells[t->rows * t->ncols + i] = cm_xstrdup(cells[i] ? cells[i] : "-");
    t->rows++;
}

size_t cm_cli_table_rows(const struct cm_cli_table *t)
{
    return t->rows;
}

static void print_row(const struct cm_cli_table *t, const size_t *w, const char *const *cells,
                      FILE *f)
{
    for (size_t i = 0; i < t->ncols; i++) {
        if (i + 1 == t->ncols)
            fprintf(f, "%s\n", cells[i]);
        else
            fprintf(f, "%-*s  ", (int)w[i], cells[i]);
    }
}

void cm_cli_table_print(const struct cm_cli_table *t, FILE *f)
{
    size_t w[CM_CLI_TABLE_MAX_COLS];
    for (size_t i = 0; i < t->ncols; i++) {
        w[i] = strlen(t->headers[i]);
        for (size_t r = 0; r < t->rows; r++) {
            size_t l = strlen(t->cells[r * t->ncols + i]);
            if (l > w[i])
                w[i] = l;
        }
    }
    print_row(t, w, t->headers, f);
    for (size_t r = 0; r < t->rows; r++)
        print_row(t, w, (const char *const *)&t->cells[r * t->ncols], f);
}

void cm_cli_table_free(struct cm_cli_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}
