/*
 * sluice groups — Kafka's kafka-consumer-groups.sh, the reading half:
 *
 *   --list                 every group of the cluster (ListGroups at each
 *                          broker of the metadata), one id per line, sorted;
 *   --describe --group G   one line per partition that G has a committed
 *                          offset for or has assigned to a member: the
 *                          committed offset, the log end offset, the lag
 *                          between them, and the member that owns it
 *                          (DescribeGroups + OffsetFetch at the coordinator,
 *                          ListOffsets latest at each partition's leader);
 *   --describe --members   one line per member with its assignment.
 *
 * Lines are sorted by topic and partition (members by id), so the output
 * is stable between runs.
 */
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/kerr.h"
#include "tools/sluice/cli.h"

#define PROG "sluice groups"
/* Brokers asked for their groups with --list. */
#define GROUPS_BROKERS_MAX 1024

/* One partition line of --describe. */
typedef struct groups_row {
  char *topic;
  int32_t partition;
  int64_t committed;                      /* -1 none */
  int64_t end;                            /* -1 unknown */
  const kclient_group_member_info *owner; /* NULL none */
} groups_row;

typedef struct groups_cmd {
  cli_rt rt;
  bool list, describe, members;
  const char *group_id;
  /* --list */
  GTree *listed; /* group id -> NULL, sorted */
  int list_pending;
  int list_err;
  /* --describe */
  kclient_group_description desc; /* copied out of the callback */
  GPtrArray *member_copies;       /* kclient_group_member_info* */
  GStringChunk *strings;
  GArray *rows; /* groups_row */
  int ends_pending;
  int ends_err;
  char ends_errmsg[KCLIENT_ERRMSG_BYTES];
} groups_cmd;

static void groups_usage(FILE *out) {
  fprintf(out,
          "usage: sluice groups --list [OPTIONS]\n"
          "       sluice groups --describe --group G [--members] [OPTIONS]\n"
          "\n"
          "Lists consumer groups, or shows one group's members, "
          "assignments,\n"
          "committed offsets and lag.\n"
          "\n"
          "options:\n"
          "  --bootstrap-server H:P[,H:P]  brokers to start from "
          "(default " CLI_DEFAULT_BOOTSTRAP ")\n"
          "  --list                every group of the cluster, one per line\n"
          "  --describe            one line per partition of --group G:\n"
          "                        GROUP TOPIC PARTITION CURRENT-OFFSET "
          "LOG-END-OFFSET\n"
          "                        LAG CONSUMER-ID HOST CLIENT-ID\n"
          "  --group G             the group to describe\n"
          "  --members             with --describe: one line per member "
          "instead\n"
          "  --verbose             log the client's work on stderr\n"
          "  --help                this text\n");
}

/* ----------------------------------------------------------------- list */

static void groups_list_print(groups_cmd *gc) {
  if (gc->list_err) {
    cli_rt_finish(&gc->rt, CLI_EXIT_FAIL);
    return;
  }
  GTreeNode *n = g_tree_node_first(gc->listed);
  for (; n; n = g_tree_node_next(n))
    printf("%s\n", (const char *)g_tree_node_key(n));
  cli_rt_finish(&gc->rt, CLI_EXIT_OK);
}

static void groups_listed(void *arg, int err, const char *errmsg,
                          const kclient_group_listing *groups, size_t n) {
  groups_cmd *gc = arg;
  if (err) {
    cli_error(PROG, "%s", errmsg);
    gc->list_err = err;
  }
  for (size_t i = 0; i < n; i++)
    if (!g_tree_lookup_extended(gc->listed, groups[i].group_id, NULL, NULL))
      g_tree_insert(gc->listed, g_strdup(groups[i].group_id), NULL);
  if (--gc->list_pending == 0)
    groups_list_print(gc);
}

static void groups_list_md(void *arg, int err, const char *errmsg,
                           const kclient_metadata_info *md) {
  groups_cmd *gc = arg;
  if (err) {
    cli_error(PROG, "%s", errmsg);
    cli_rt_finish(&gc->rt, CLI_EXIT_FAIL);
    return;
  }
  int32_t n = md->broker_count < GROUPS_BROKERS_MAX ? md->broker_count
                                                    : GROUPS_BROKERS_MAX;
  if (n == 0) {
    cli_error(PROG, "the cluster lists no brokers");
    cli_rt_finish(&gc->rt, CLI_EXIT_FAIL);
    return;
  }
  gc->list_pending = n;
  for (int32_t i = 0; i < n; i++)
    kclient_list_groups(gc->rt.kc, md->brokers[i].node_id, groups_listed, gc);
}

/* ------------------------------------------------------------- describe */

static int groups_row_cmp(const void *a, const void *b) {
  const groups_row *x = a, *y = b;
  int r = strcmp(x->topic, y->topic);
  if (r)
    return r;
  return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static groups_row *groups_row_get(groups_cmd *gc, const char *topic,
                                  int32_t partition) {
  for (guint i = 0; i < gc->rows->len; i++) {
    groups_row *r = &g_array_index(gc->rows, groups_row, i);
    if (r->partition == partition && strcmp(r->topic, topic) == 0)
      return r;
  }
  groups_row row = {g_string_chunk_insert_const(gc->strings, topic), partition,
                    -1, -1, NULL};
  g_array_append_val(gc->rows, row);
  return &g_array_index(gc->rows, groups_row, gc->rows->len - 1);
}

static const char *groups_dash(const char *s) { return s && s[0] ? s : "-"; }

/* Prints rows of cells (char*[ncols], g_strdup'ed) in columns as wide as
 * their widest cell, as kafka-consumer-groups.sh does; frees the cells. */
#define GROUPS_COLS_MAX 9
static void groups_table_print(GPtrArray *rows, guint ncols) {
  size_t width[GROUPS_COLS_MAX] = {0};
  for (guint i = 0; i < rows->len; i++) {
    char **cells = g_ptr_array_index(rows, i);
    for (guint k = 0; k < ncols; k++)
      if (strlen(cells[k]) > width[k])
        width[k] = strlen(cells[k]);
  }
  for (guint i = 0; i < rows->len; i++) {
    char **cells = g_ptr_array_index(rows, i);
    for (guint k = 0; k < ncols; k++) {
      if (k + 1 < ncols)
        printf("%-*s ", (int)width[k], cells[k]);
      else
        printf("%s\n", cells[k]);
    }
  }
}

static GPtrArray *groups_table_new(void) {
  return g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
}

static void groups_print_members(groups_cmd *gc) {
  GPtrArray *t = groups_table_new();
  g_ptr_array_add(
      t, g_strsplit("GROUP CONSUMER-ID HOST CLIENT-ID ASSIGNMENT", " ", -1));
  for (size_t i = 0; i < gc->desc.member_count; i++) {
    const kclient_group_member_info *m = &gc->desc.members[i];
    GString *asg = g_string_new("");
    for (size_t k = 0; k < m->assignment_count; k++)
      g_string_append_printf(asg, "%s%s-%d", k ? "," : "",
                             m->assignment[k].topic,
                             (int)m->assignment[k].partition);
    char **cells = g_new0(char *, 6);
    cells[0] = g_strdup(gc->desc.group_id);
    cells[1] = g_strdup(m->member_id);
    cells[2] = g_strdup(groups_dash(m->client_host));
    cells[3] = g_strdup(groups_dash(m->client_id));
    cells[4] = g_strdup(groups_dash(asg->str));
    g_ptr_array_add(t, cells);
    g_string_free(asg, TRUE);
  }
  groups_table_print(t, 5);
  g_ptr_array_free(t, TRUE);
}

static void groups_print_rows(groups_cmd *gc) {
  g_array_sort(gc->rows, groups_row_cmp);
  GPtrArray *t = groups_table_new();
  g_ptr_array_add(t, g_strsplit("GROUP TOPIC PARTITION CURRENT-OFFSET "
                                "LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID",
                                " ", -1));
  for (guint i = 0; i < gc->rows->len; i++) {
    const groups_row *r = &g_array_index(gc->rows, groups_row, i);
    char **cells = g_new0(char *, 10);
    cells[0] = g_strdup(gc->desc.group_id);
    cells[1] = g_strdup(r->topic);
    cells[2] = g_strdup_printf("%d", (int)r->partition);
    cells[3] = r->committed >= 0 ? g_strdup_printf("%" PRId64, r->committed)
                                 : g_strdup("-");
    cells[4] =
        r->end >= 0 ? g_strdup_printf("%" PRId64, r->end) : g_strdup("-");
    cells[5] =
        r->committed >= 0 && r->end >= 0
            ? g_strdup_printf("%" PRId64,
                              r->end > r->committed ? r->end - r->committed : 0)
            : g_strdup("-");
    cells[6] = g_strdup(r->owner ? r->owner->member_id : "-");
    cells[7] = g_strdup(r->owner ? groups_dash(r->owner->client_host) : "-");
    cells[8] = g_strdup(r->owner ? groups_dash(r->owner->client_id) : "-");
    g_ptr_array_add(t, cells);
  }
  groups_table_print(t, 9);
  g_ptr_array_free(t, TRUE);
}

static void groups_describe_print(groups_cmd *gc) {
  if (gc->ends_err) {
    cli_error(PROG, "%s", gc->ends_errmsg);
    cli_rt_finish(&gc->rt, CLI_EXIT_FAIL);
    return;
  }
  if (gc->desc.member_count == 0)
    fprintf(stderr, "Consumer group '%s' has no active members.\n",
            gc->group_id);
  else
    fprintf(stderr, "Consumer group '%s' is %s with %zu members.\n",
            gc->group_id, gc->desc.state, gc->desc.member_count);
  if (gc->members)
    groups_print_members(gc);
  else
    groups_print_rows(gc);
  cli_rt_finish(&gc->rt, CLI_EXIT_OK);
}

typedef struct groups_end_req {
  groups_cmd *gc;
  guint row;
} groups_end_req;

static void groups_end_got(void *arg, int err, const char *errmsg,
                           int64_t offset, int64_t timestamp_ms) {
  groups_end_req *er = arg;
  groups_cmd *gc = er->gc;
  (void)timestamp_ms;
  if (err && !gc->ends_err) {
    gc->ends_err = err;
    g_strlcpy(gc->ends_errmsg, errmsg, sizeof gc->ends_errmsg);
  }
  if (!err)
    g_array_index(gc->rows, groups_row, er->row).end = offset;
  g_free(er);
  if (--gc->ends_pending == 0)
    groups_describe_print(gc);
}

static void groups_offsets_got(void *arg, int err, const char *errmsg,
                               const kclient_committed_offset *offs, size_t n) {
  groups_cmd *gc = arg;
  if (err) {
    cli_error(PROG, "%s", errmsg);
    cli_rt_finish(&gc->rt, CLI_EXIT_FAIL);
    return;
  }
  for (size_t i = 0; i < n; i++)
    groups_row_get(gc, offs[i].topic, offs[i].partition)->committed =
        offs[i].offset;
  for (size_t i = 0; i < gc->desc.member_count; i++) {
    const kclient_group_member_info *m = &gc->desc.members[i];
    for (size_t k = 0; k < m->assignment_count; k++)
      groups_row_get(gc, m->assignment[k].topic, m->assignment[k].partition)
          ->owner = m;
  }
  if (gc->rows->len == 0 && gc->desc.member_count == 0 &&
      (strcmp(gc->desc.state, "Dead") == 0 || !gc->desc.state[0])) {
    cli_error(PROG, "consumer group '%s' does not exist", gc->group_id);
    cli_rt_finish(&gc->rt, CLI_EXIT_FAIL);
    return;
  }
  if (gc->members || gc->rows->len == 0) {
    groups_describe_print(gc);
    return;
  }
  gc->ends_pending = (int)gc->rows->len;
  for (guint i = 0; i < gc->rows->len; i++) {
    groups_end_req *er = g_new0(groups_end_req, 1);
    er->gc = gc;
    er->row = i;
    const groups_row *r = &g_array_index(gc->rows, groups_row, i);
    kclient_list_offsets(gc->rt.kc, r->topic, r->partition,
                         KCLIENT_OFFSET_LATEST, groups_end_got, er);
  }
}

/* Copies the description out of the callback (its memory goes with it). */
static void groups_described(void *arg, int err, const char *errmsg,
                             const kclient_group_description *d) {
  groups_cmd *gc = arg;
  if (err) {
    cli_error(PROG, "%s", errmsg);
    cli_rt_finish(&gc->rt, CLI_EXIT_FAIL);
    return;
  }
  GStringChunk *s = gc->strings;
  gc->desc.group_id = g_string_chunk_insert_const(s, d->group_id);
  gc->desc.state = g_string_chunk_insert_const(s, d->state);
  gc->desc.protocol_type = g_string_chunk_insert_const(s, d->protocol_type);
  gc->desc.protocol = g_string_chunk_insert_const(s, d->protocol);
  kclient_group_member_info *ms =
      g_new0(kclient_group_member_info, d->member_count ? d->member_count : 1);
  g_ptr_array_add(gc->member_copies, ms);
  for (size_t i = 0; i < d->member_count; i++) {
    const kclient_group_member_info *m = &d->members[i];
    kclient_topic_partition *tps = g_new0(
        kclient_topic_partition, m->assignment_count ? m->assignment_count : 1);
    g_ptr_array_add(gc->member_copies, tps);
    for (size_t k = 0; k < m->assignment_count; k++)
      tps[k] = (kclient_topic_partition){
          g_string_chunk_insert_const(s, m->assignment[k].topic),
          m->assignment[k].partition};
    ms[i] = (kclient_group_member_info){
        .member_id = g_string_chunk_insert_const(s, m->member_id),
        .client_id = g_string_chunk_insert_const(s, m->client_id),
        .client_host = g_string_chunk_insert_const(s, m->client_host),
        .assignment = tps,
        .assignment_count = m->assignment_count,
    };
  }
  gc->desc.members = ms;
  gc->desc.member_count = d->member_count;
  kclient_committed_offsets(gc->rt.kc, gc->group_id, groups_offsets_got, gc);
}

/* ----------------------------------------------------------------- main */

enum {
  OPT_BOOTSTRAP = 1000,
  OPT_LIST,
  OPT_DESCRIBE,
  OPT_GROUP,
  OPT_MEMBERS,
  OPT_VERBOSE,
  OPT_HELP,
};

static const struct option groups_opts[] = {
    {"bootstrap-server", required_argument, NULL, OPT_BOOTSTRAP},
    {"list", no_argument, NULL, OPT_LIST},
    {"describe", no_argument, NULL, OPT_DESCRIBE},
    {"group", required_argument, NULL, OPT_GROUP},
    {"members", no_argument, NULL, OPT_MEMBERS},
    {"verbose", no_argument, NULL, OPT_VERBOSE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static void groups_free_ptr(gpointer p) { g_free(p); }

static gint groups_str_cmp(gconstpointer a, gconstpointer b, gpointer data) {
  (void)data;
  return strcmp(a, b);
}

int cli_groups(int argc, char **argv) {
  groups_cmd *gc = g_new0(groups_cmd, 1);
  kclient_config cfg;
  kclient_config_default(&cfg);
  cfg.bootstrap_servers = CLI_DEFAULT_BOOTSTRAP;
  cfg.client_id = "sluice-groups";
  cfg.op_timeout_ms = CLI_OP_TIMEOUT_MS;
  bool verbose = false;
  int rc = 0, c;
  optind = 1;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", groups_opts, NULL)) != -1) {
    switch (c) {
    case OPT_BOOTSTRAP:
      cfg.bootstrap_servers = optarg;
      break;
    case OPT_LIST:
      gc->list = true;
      break;
    case OPT_DESCRIBE:
      gc->describe = true;
      break;
    case OPT_GROUP:
      gc->group_id = optarg;
      break;
    case OPT_MEMBERS:
      gc->members = true;
      break;
    case OPT_VERBOSE:
      verbose = true;
      break;
    case OPT_HELP:
      groups_usage(stdout);
      g_free(gc);
      return CLI_EXIT_OK;
    default:
      cli_error(PROG, "unknown option '%s' (see --help)", argv[optind - 1]);
      rc = CLI_EXIT_USAGE;
    }
    if (rc)
      goto out_free_cmd;
  }
  if (optind < argc) {
    cli_error(PROG, "unexpected argument '%s'", argv[optind]);
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (gc->list == gc->describe) {
    cli_error(PROG, "give exactly one of --list or --describe (see --help)");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (gc->describe && (!gc->group_id || !gc->group_id[0])) {
    cli_error(PROG, "--describe needs --group G");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  if (gc->list && (gc->group_id || gc->members)) {
    cli_error(PROG, "--group and --members go with --describe, not --list");
    rc = CLI_EXIT_USAGE;
    goto out_free_cmd;
  }
  rc = cli_rt_init(&gc->rt, PROG, &cfg, verbose);
  if (rc)
    goto out_free_cmd;
  gc->listed = g_tree_new_full(groups_str_cmp, NULL, g_free, NULL);
  gc->strings = g_string_chunk_new(4096);
  gc->rows = g_array_new(FALSE, FALSE, sizeof(groups_row));
  gc->member_copies = g_ptr_array_new_with_free_func(groups_free_ptr);
  if (gc->list)
    kclient_metadata(gc->rt.kc, NULL, 0, groups_list_md, gc);
  else
    kclient_describe_group(gc->rt.kc, gc->group_id, groups_described, gc);
  rc = cli_rt_run(&gc->rt);
  cli_rt_free(&gc->rt);
  g_tree_destroy(gc->listed);
  g_string_chunk_free(gc->strings);
  g_array_free(gc->rows, TRUE);
  g_ptr_array_free(gc->member_copies, TRUE);
out_free_cmd:
  g_free(gc);
  return rc;
}
