/*
 * group_admin.c — the questions kafka-consumer-groups.sh asks: ListGroups
 * of one broker, DescribeGroups and the committed offsets (OffsetFetch
 * with null topics) of one group.
 *
 * Describe and offsets go to the group's coordinator, so each is one
 * kclient__op in two phases: FindCoordinator at any broker, then the
 * request at the coordinator. A coordinator error in the second phase
 * (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, a network error) sends the
 * op back to the first, within the op's deadline (op_timeout_ms).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "broker/client/client_internal.h"
#include "broker/kerr.h"

typedef enum kclient__gadmin_kind {
  KCLIENT__GADMIN_DESCRIBE = 0,
  KCLIENT__GADMIN_OFFSETS,
} kclient__gadmin_kind;

typedef struct kclient__gadmin {
  kclient__gadmin_kind kind;
  char *group_id;
  int32_t coord;              /* -1 until FindCoordinator answered */
  const kclient__op_vt *next; /* the second phase */
  /* results, valid from handle to finish (strings point into the
   * response, which is gone by then: they are copied) */
  GStringChunk *strings;
  kclient_group_description desc;
  kclient_group_member_info *members;
  kclient_assignment *assignments;
  kclient_committed_offset *offsets;
  size_t offset_count;
} kclient__gadmin;

static const char *kclient__gadmin_str(kclient__gadmin *ga, proto_str s) {
  if (s.len <= 0)
    return g_string_chunk_insert_const(ga->strings, "");
  return g_string_chunk_insert_len(ga->strings, s.data, s.len);
}

static bool kclient__gadmin_coord_err(int err) {
  return err == KERR_NOT_COORDINATOR || err == KERR_COORDINATOR_NOT_AVAILABLE ||
         err == KERR_COORDINATOR_LOAD_IN_PROGRESS;
}

/* ---------------------------------------------------- FindCoordinator */

static int32_t kclient__gadmin_find_route(kclient__op *op) {
  (void)op;
  return KCLIENT__ROUTE_ANY;
}

static void *kclient__gadmin_find_build(void *ctx, int16_t version,
                                        proto_arena *a) {
  kclient__op *op = ctx;
  kclient__gadmin *ga = op->ctx;
  (void)version;
  proto_find_coordinator_req *req = PROTO_NEW(a, proto_find_coordinator_req);
  if (!req)
    return NULL;
  req->key = proto_str_from(ga->group_id);
  req->key_type = 0;
  return req;
}

static kclient__op_action
kclient__gadmin_find_handle(kclient__op *op, int16_t version, void *body) {
  kclient__gadmin *ga = op->ctx;
  const proto_find_coordinator_resp *resp = body;
  (void)version;
  if (resp->error_code) {
    op->err = resp->error_code;
    kclient__errmsg(op->errmsg, op->err, "FindCoordinator of group %s: %s",
                    ga->group_id, kclient_err_name(op->err));
    return kclient_err_retriable(op->err) || kclient__gadmin_coord_err(op->err)
               ? KCLIENT__OP_RETRY
               : KCLIENT__OP_DONE;
  }
  ga->coord = resp->node_id;
  if (!kclient__broker_find(op->c, ga->coord))
    kclient__metadata_refresh(op->c);
  op->vt = ga->next;
  /* The second phase goes out after the (short) retry backoff. */
  return KCLIENT__OP_RETRY;
}

static int32_t kclient__gadmin_coord_route(kclient__op *op) {
  kclient__gadmin *ga = op->ctx;
  return ga->coord >= 0 ? ga->coord : KCLIENT__ROUTE_ANY;
}

/* A coordinator error in the second phase: look it up again. */
static kclient__op_action
kclient__gadmin_refind(kclient__op *op, const kclient__op_vt *find, int err) {
  kclient__gadmin *ga = op->ctx;
  op->err = err;
  kclient__errmsg(op->errmsg, err, "group %s: %s", ga->group_id,
                  kclient_err_name(err));
  ga->coord = -1;
  op->vt = find;
  return KCLIENT__OP_RETRY;
}

static void kclient__gadmin_finish(kclient__op *op) {
  kclient__gadmin *ga = op->ctx;
  const char *msg = op->err ? op->errmsg : "";
  switch (ga->kind) {
  case KCLIENT__GADMIN_DESCRIBE:
    ((kclient_group_describe_cb)op->user_cb)(op->user_arg, op->err, msg,
                                             op->err ? NULL : &ga->desc);
    return;
  case KCLIENT__GADMIN_OFFSETS:
    ((kclient_committed_cb)op->user_cb)(op->user_arg, op->err, msg,
                                        op->err ? NULL : ga->offsets,
                                        op->err ? 0 : ga->offset_count);
    return;
  }
}

static void kclient__gadmin_free(kclient__op *op) {
  kclient__gadmin *ga = op->ctx;
  for (size_t i = 0; ga->assignments && i < ga->desc.member_count; i++)
    kclient_assignment_free(&ga->assignments[i]);
  g_free(ga->assignments);
  g_free(ga->members);
  g_free(ga->offsets);
  g_string_chunk_free(ga->strings);
  g_free(ga->group_id);
  g_free(ga);
}

/* ------------------------------------------------------ DescribeGroups */

static const kclient__op_vt kclient__describe_find_vt;

static void *kclient__describe_build(void *ctx, int16_t version,
                                     proto_arena *a) {
  kclient__op *op = ctx;
  kclient__gadmin *ga = op->ctx;
  (void)version;
  proto_describe_groups_req *req = PROTO_NEW(a, proto_describe_groups_req);
  if (!req)
    return NULL;
  req->groups.items = proto_arena_alloc(a, sizeof(proto_str));
  if (!req->groups.items)
    return NULL;
  req->groups.count = 1;
  req->groups.items[0] = proto_str_from(ga->group_id);
  return req;
}

static int kclient__member_info_cmp(const void *a, const void *b) {
  const kclient_group_member_info *x = a, *y = b;
  return strcmp(x->member_id, y->member_id);
}

static int kclient__tp_sort_cmp(const void *a, const void *b) {
  const kclient_topic_partition *x = a, *y = b;
  int r = strcmp(x->topic, y->topic);
  if (r)
    return r;
  return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static kclient__op_action
kclient__describe_handle(kclient__op *op, int16_t version, void *body) {
  kclient__gadmin *ga = op->ctx;
  const proto_describe_groups_resp *resp = body;
  (void)version;
  const proto_describe_groups_resp_described_group *dg = NULL;
  for (int32_t i = 0; i < resp->groups.count && !dg; i++)
    if (proto_str_eq(resp->groups.items[i].group_id, ga->group_id))
      dg = &resp->groups.items[i];
  if (!dg) {
    op->err = -EPROTO;
    kclient__errmsg(op->errmsg, op->err,
                    "DescribeGroups answered without group %s", ga->group_id);
    return KCLIENT__OP_DONE;
  }
  if (kclient__gadmin_coord_err(dg->error_code))
    return kclient__gadmin_refind(op, &kclient__describe_find_vt,
                                  dg->error_code);
  if (dg->error_code) {
    op->err = dg->error_code;
    kclient__errmsg(op->errmsg, op->err, "DescribeGroups of group %s: %s",
                    ga->group_id, kclient_err_name(op->err));
    return KCLIENT__OP_DONE;
  }
  size_t n = dg->members.count > 0 ? (size_t)dg->members.count : 0;
  bool consumer = proto_str_eq(dg->protocol_type, "consumer");
  ga->members = g_new0(kclient_group_member_info, n ? n : 1);
  ga->assignments = g_new0(kclient_assignment, n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    const proto_describe_groups_resp_described_group_member *pm =
        &dg->members.items[i];
    kclient_group_member_info *m = &ga->members[i];
    m->member_id = kclient__gadmin_str(ga, pm->member_id);
    m->client_id = kclient__gadmin_str(ga, pm->client_id);
    m->client_host = kclient__gadmin_str(ga, pm->client_host);
    kclient_assignment *as = &ga->assignments[i];
    if (consumer && pm->member_assignment.len > 0 &&
        kclient_assignment_decode(pm->member_assignment.data,
                                  (size_t)pm->member_assignment.len, as) == 0) {
      qsort(as->tps, as->count, sizeof *as->tps, kclient__tp_sort_cmp);
      m->assignment = as->tps;
      m->assignment_count = as->count;
    }
  }
  qsort(ga->members, n, sizeof *ga->members, kclient__member_info_cmp);
  ga->desc = (kclient_group_description){
      .group_id = kclient__gadmin_str(ga, dg->group_id),
      .state = kclient__gadmin_str(ga, dg->group_state),
      .protocol_type = kclient__gadmin_str(ga, dg->protocol_type),
      .protocol = kclient__gadmin_str(ga, dg->protocol_data),
      .members = ga->members,
      .member_count = n,
  };
  return KCLIENT__OP_DONE;
}

static const kclient__op_vt kclient__describe_vt = {
    .name = "DescribeGroups",
    .api_key = PROTO_API_DESCRIBE_GROUPS,
    .route = kclient__gadmin_coord_route,
    .build = kclient__describe_build,
    .handle = kclient__describe_handle,
    .finish = kclient__gadmin_finish,
    .free_ctx = kclient__gadmin_free,
};

static const kclient__op_vt kclient__describe_find_vt = {
    .name = "FindCoordinator",
    .api_key = PROTO_API_FIND_COORDINATOR,
    .route = kclient__gadmin_find_route,
    .build = kclient__gadmin_find_build,
    .handle = kclient__gadmin_find_handle,
    .finish = kclient__gadmin_finish,
    .free_ctx = kclient__gadmin_free,
};

/* --------------------------------------------------------- OffsetFetch */

static const kclient__op_vt kclient__offsets_find_vt;

static void *kclient__offsets_build(void *ctx, int16_t version,
                                    proto_arena *a) {
  kclient__op *op = ctx;
  kclient__gadmin *ga = op->ctx;
  proto_offset_fetch_req *req = PROTO_NEW(a, proto_offset_fetch_req);
  if (!req)
    return NULL;
  req->group_id = proto_str_from(ga->group_id);
  /* Null topics = every committed offset (v2+; the client asks >= v1 and
   * a broker with only v1 answers nothing, which is reported empty). */
  req->topics.items = NULL;
  req->topics.count = version >= 2 ? -1 : 0;
  req->require_stable = false;
  return req;
}

static int kclient__committed_cmp(const void *a, const void *b) {
  const kclient_committed_offset *x = a, *y = b;
  int r = strcmp(x->topic, y->topic);
  if (r)
    return r;
  return x->partition < y->partition ? -1 : x->partition > y->partition;
}

static kclient__op_action kclient__offsets_handle(kclient__op *op,
                                                  int16_t version, void *body) {
  kclient__gadmin *ga = op->ctx;
  const proto_offset_fetch_resp *resp = body;
  int err = version >= 2 ? resp->error_code : 0;
  if (kclient__gadmin_coord_err(err))
    return kclient__gadmin_refind(op, &kclient__offsets_find_vt, err);
  if (err) {
    op->err = err;
    kclient__errmsg(op->errmsg, err, "OffsetFetch of group %s: %s",
                    ga->group_id, kclient_err_name(err));
    return KCLIENT__OP_DONE;
  }
  size_t n = 0;
  for (int32_t i = 0; i < resp->topics.count; i++)
    if (resp->topics.items[i].partitions.count > 0)
      n += (size_t)resp->topics.items[i].partitions.count;
  ga->offsets = g_new0(kclient_committed_offset, n ? n : 1);
  size_t k = 0;
  for (int32_t i = 0; i < resp->topics.count; i++) {
    const proto_offset_fetch_resp_topic *t = &resp->topics.items[i];
    for (int32_t j = 0; j < t->partitions.count; j++) {
      const proto_offset_fetch_resp_partition *p = &t->partitions.items[j];
      if (p->error_code || p->committed_offset < 0)
        continue;
      ga->offsets[k++] = (kclient_committed_offset){
          .topic = kclient__gadmin_str(ga, t->name),
          .partition = p->partition_index,
          .offset = p->committed_offset,
          .metadata = kclient__gadmin_str(ga, p->metadata),
      };
    }
  }
  ga->offset_count = k;
  qsort(ga->offsets, k, sizeof *ga->offsets, kclient__committed_cmp);
  return KCLIENT__OP_DONE;
}

static const kclient__op_vt kclient__offsets_vt = {
    .name = "OffsetFetch",
    .api_key = PROTO_API_OFFSET_FETCH,
    .route = kclient__gadmin_coord_route,
    .build = kclient__offsets_build,
    .handle = kclient__offsets_handle,
    .finish = kclient__gadmin_finish,
    .free_ctx = kclient__gadmin_free,
};

static const kclient__op_vt kclient__offsets_find_vt = {
    .name = "FindCoordinator",
    .api_key = PROTO_API_FIND_COORDINATOR,
    .route = kclient__gadmin_find_route,
    .build = kclient__gadmin_find_build,
    .handle = kclient__gadmin_find_handle,
    .finish = kclient__gadmin_finish,
    .free_ctx = kclient__gadmin_free,
};

static void kclient__gadmin_start(kclient_t *c, kclient__gadmin_kind kind,
                                  const char *group_id,
                                  const kclient__op_vt *find,
                                  const kclient__op_vt *next, void *cb,
                                  void *arg) {
  kclient__gadmin *ga = g_new0(kclient__gadmin, 1);
  ga->kind = kind;
  ga->group_id = g_strdup(group_id);
  ga->coord = -1;
  ga->next = next;
  ga->strings = g_string_chunk_new(1024);
  kclient__op *op = kclient__op_new(c, find, ga, cb, arg);
  op->fail_fast = true;
  kclient__op_start(op);
}

void kclient_describe_group(kclient_t *c, const char *group_id,
                            kclient_group_describe_cb cb, void *arg) {
  SL_ASSERT(c && group_id && cb);
  kclient__gadmin_start(c, KCLIENT__GADMIN_DESCRIBE, group_id,
                        &kclient__describe_find_vt, &kclient__describe_vt,
                        (void *)cb, arg);
}

void kclient_committed_offsets(kclient_t *c, const char *group_id,
                               kclient_committed_cb cb, void *arg) {
  SL_ASSERT(c && group_id && cb);
  kclient__gadmin_start(c, KCLIENT__GADMIN_OFFSETS, group_id,
                        &kclient__offsets_find_vt, &kclient__offsets_vt,
                        (void *)cb, arg);
}

/* ---------------------------------------------------------- ListGroups */

typedef struct kclient__glist {
  int32_t node_id;
  GStringChunk *strings;
  kclient_group_listing *groups;
  size_t count;
} kclient__glist;

static int32_t kclient__glist_route(kclient__op *op) {
  kclient__glist *gl = op->ctx;
  if (!kclient__broker_find(op->c, gl->node_id)) {
    op->err = -EHOSTUNREACH;
    kclient__errmsg(op->errmsg, op->err, "ListGroups: broker %d is unknown",
                    gl->node_id);
    return KCLIENT__ROUTE_FAIL;
  }
  return gl->node_id;
}

static void *kclient__glist_build(void *ctx, int16_t version, proto_arena *a) {
  (void)ctx;
  (void)version;
  return PROTO_NEW(a, proto_list_groups_req);
}

static int kclient__listing_cmp(const void *a, const void *b) {
  const kclient_group_listing *x = a, *y = b;
  return strcmp(x->group_id, y->group_id);
}

static const char *kclient__glist_str(kclient__glist *gl, proto_str s) {
  if (s.len <= 0)
    return g_string_chunk_insert_const(gl->strings, "");
  return g_string_chunk_insert_len(gl->strings, s.data, s.len);
}

static kclient__op_action kclient__glist_handle(kclient__op *op,
                                                int16_t version, void *body) {
  kclient__glist *gl = op->ctx;
  const proto_list_groups_resp *resp = body;
  if (resp->error_code) {
    op->err = resp->error_code;
    kclient__errmsg(op->errmsg, op->err, "ListGroups at broker %d: %s",
                    gl->node_id, kclient_err_name(op->err));
    return kclient__gadmin_coord_err(op->err) ? KCLIENT__OP_RETRY
                                              : KCLIENT__OP_DONE;
  }
  size_t n = resp->groups.count > 0 ? (size_t)resp->groups.count : 0;
  gl->groups = g_new0(kclient_group_listing, n ? n : 1);
  for (size_t i = 0; i < n; i++) {
    const proto_list_groups_resp_listed_group *lg = &resp->groups.items[i];
    gl->groups[i] = (kclient_group_listing){
        .group_id = kclient__glist_str(gl, lg->group_id),
        .protocol_type = kclient__glist_str(gl, lg->protocol_type),
        .state = version >= 4 ? kclient__glist_str(gl, lg->group_state) : "",
    };
  }
  gl->count = n;
  qsort(gl->groups, n, sizeof *gl->groups, kclient__listing_cmp);
  return KCLIENT__OP_DONE;
}

static void kclient__glist_finish(kclient__op *op) {
  kclient__glist *gl = op->ctx;
  ((kclient_group_list_cb)op->user_cb)(
      op->user_arg, op->err, op->err ? op->errmsg : "",
      op->err ? NULL : gl->groups, op->err ? 0 : gl->count);
}

static void kclient__glist_free(kclient__op *op) {
  kclient__glist *gl = op->ctx;
  g_free(gl->groups);
  g_string_chunk_free(gl->strings);
  g_free(gl);
}

static const kclient__op_vt kclient__glist_vt = {
    .name = "ListGroups",
    .api_key = PROTO_API_LIST_GROUPS,
    .route = kclient__glist_route,
    .build = kclient__glist_build,
    .handle = kclient__glist_handle,
    .finish = kclient__glist_finish,
    .free_ctx = kclient__glist_free,
};

void kclient_list_groups(kclient_t *c, int32_t node_id,
                         kclient_group_list_cb cb, void *arg) {
  SL_ASSERT(c && cb);
  kclient__glist *gl = g_new0(kclient__glist, 1);
  gl->node_id = node_id;
  gl->strings = g_string_chunk_new(1024);
  kclient__op *op = kclient__op_new(c, &kclient__glist_vt, gl, (void *)cb, arg);
  op->fail_fast = true;
  kclient__op_start(op);
}
