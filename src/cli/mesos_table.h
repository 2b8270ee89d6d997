/*
 * mesos_table.h: the `mesos` CLI's human output, columns aligned under upper-case headers
 * (prefix cm_cli_table_). Cells are copied; a NULL cell prints as "-".
 */
#ifndef CM_CLI_TABLE_H
#define CM_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define CM_CLI_TABLE_MAX_COLS 12

struct cm_cli_table;

/* headers: ncols strings (not copied: use literals). */
struct cm_cli_table *cm_cli_table_new(size_t ncols, const char *const *headers);
/* Appends a row of ncols cells. */
void cm_cli_table_add(struct cm_cli_table *t, const char *const *cells);
size_t cm_cli_table_rows(const struct cm_cli_table *t);
/* Prints the header and rows, two spaces between columns, no trailing blanks. */
void cm_cli_table_print(const struct cm_cli_table *t, FILE *f);
void cm_cli_table_free(struct cm_cli_table *t);

#endif
