/* operator_stream.c: the operator API's large replies (GET_STATE, GET_TASKS, GET_AGENTS,
 * GET_FRAMEWORKS, GET_EXECUTORS and SUBSCRIBE's SUBSCRIBED event) written in slices, in JSON or
 * protobuf, byte for byte as the one-piece builders (operator_state.c) encode them.
 *
 * Two phases. Collecting: the objects are walked a few per piece, each built with the
 * one-piece builders (cm_operator_task, cm_operator_agent, ...), encoded at once into the
 * buffer of the repeated field it belongs to (JSON: the text cm_pb_encode prints, written by
 * the direct writer with 15-digit doubles; protobuf: the field's tag, the length and the packed
 * bytes, as protobuf-c packs a repeated message) and freed. Ids are copied when a walk starts and
 * looked up again for each object, so no pointer into the core survives a piece: an object removed
 * meanwhile is left out, one added later is not in the reply (its event follows on a SUBSCRIBE
 * stream). Writing: once every field is collected its size is known, so the enclosing messages
 * (their tags and lengths, or their JSON keys and braces) are put around the fields' buffers,
 * walking the response's descriptors in field order as protobuf-c and pbjson do, and the whole is
 * handed out in pieces of bounded size. See operator.h. */
#include <stdlib.h>
#include <string.h>

#include "idlist.h"
#include "json_out.h"
#include "operator.h"
#include "pbjson.h"
#include "registrar.h"
#include "util.h"

/* Per piece: enough to amortise the lookups, small enough for a 2 ms slice. */
#define TASKS_PER_PIECE 16
#define AGENTS_PER_PIECE 4
/* Bytes handed out per call of cm_operator_snap_produce once collected. */
#define WRITE_PIECE ((size_t)64 << 10)

/* ---- ids copied into one buffer ---- */

static void ids_of_map(struct cm_idlist *l, const struct cm_strmap *map)
{
    struct cm_strmap_iter it;
    for (cm_strmap_iter_init(&it, map); cm_strmap_iter_next(&it);)
        cm_idlist_add(l, it.cur->key);
}

/* ---- byte buffers ---- */

struct bytes {
    uint8_t *p;
    size_t len, cap;
};

static uint8_t *bytes_reserve(struct bytes *b, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n > cap)
            cap *= 2;
        b->p = cm_xrealloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

static void bytes_add(struct bytes *b, const void *data, size_t n)
{
    if (n) {
        memcpy(bytes_reserve(b, n), data, n);
        b->len += n;
    }
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void varint_add(struct bytes *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    bytes_add(b, tmp, n);
}

/* The key of a length-delimited field (wire type 2). */
static uint64_t ld_tag(unsigned number)
{
    return ((uint64_t)number << 3) | 2;
}

/* ---- the repeated fields collected ---- */

enum list_id {
    L_TASKS,
    L_UNREACHABLE_TASKS,
    L_COMPLETED_TASKS,
    L_EXECUTORS,
    L_FRAMEWORKS,
    L_COMPLETED_FRAMEWORKS,
    L_AGENTS,
    L_RECOVERED_AGENTS,
    NLISTS
};

/* Which repeated field of which message each list is (names as in master.proto). */
static const struct {
    const ProtobufCMessageDescriptor *desc;
    const char *field;
} list_fields[NLISTS] = {
    [L_TASKS] = {&mesos__v1__master__response__get_tasks__descriptor, "tasks"},
    [L_UNREACHABLE_TASKS] = {&mesos__v1__master__response__get_tasks__descriptor,
                             "unreachable_tasks"},
    [L_COMPLETED_TASKS] = {&mesos__v1__master__response__get_tasks__descriptor, "completed_tasks"},
    [L_EXECUTORS] = {&mesos__v1__master__response__get_executors__descriptor, "executors"},
    [L_FRAMEWORKS] = {&mesos__v1__master__response__get_frameworks__descriptor, "frameworks"},
    [L_COMPLETED_FRAMEWORKS] = {&mesos__v1__master__response__get_frameworks__descriptor,
                                "completed_frameworks"},
    [L_AGENTS] = {&mesos__v1__master__response__get_agents__descriptor, "agents"},
    [L_RECOVERED_AGENTS] = {&mesos__v1__master__response__get_agents__descriptor,
                            "recovered_agents"},
};

struct list {
    /* JSON: the elements with their commas, no brackets; protobuf: each element's tag, length
     * and bytes. */
    struct bytes buf;
    size_t n;
    unsigned number; /* the field's number */
};

/* The walks of the collecting phase, in the order they run. */
enum stage {
    ST_TASKS,              /* active frameworks: tasks, unreachable tasks, completed tasks */
    ST_COMPLETED_FW_TASKS, /* completed frameworks' completed tasks */
    ST_EXECUTORS,
    ST_FRAMEWORKS,
    ST_COMPLETED_FRAMEWORKS,
    ST_AGENTS,
    ST_RECOVERED_AGENTS,
    ST_DONE
};

/* One part of the output: a range of the skeleton or a whole list. */
struct part {
    int list; /* enum list_id, or -1: skel[off, off + len) */
    size_t off, len;
};

struct cm_operator_snap {
    struct cm_master *m;
    enum cm_operator_snap_kind kind;
    enum cm_media media;
    bool recordio;
    unsigned stages; /* bit per enum stage needed */
    enum stage stage;
    bool stage_started;
    struct cm_idlist ids; /* the stage's frameworks or agents */
    /* The framework whose tasks or executors are being walked. */
    char *fw_id;
    struct cm_idlist inner;
    size_t inner_active; /* ST_TASKS: inner[0, inner_active) are active, the rest unreachable */
    /* ST_*FRAMEWORKS: the framework's encoding before and after its offers, and its offers
     * so far (inner holds their ids). */
    struct bytes fw_head, fw_tail, fw_offers;
    size_t fw_noffers;
    unsigned offers_number; /* Framework.offers's field number */
    /* JSON: one object's text at a time (json_text); "e308" seen (see there). */
    struct cm_json_out text;
    bool e308;
    struct list lists[NLISTS];
    /* Writing. */
    bool planned;
    struct bytes skel;
    struct part *parts;
    size_t nparts, part_cap;
    size_t cur, cur_off; /* next byte: parts[cur] at cur_off */
    size_t total;
};

/* msg's JSON text as cm_pb_encode prints it, in s->text: doubles with 15 significant digits,
 * except that a reply in which "e308" appears is printed with 17 (cm_pbjson_to_text: 15 digits
 * can round past DBL_MAX). Such text flags the snapshot, which then starts over with 17. */
static const struct cm_json_out *json_text(struct cm_operator_snap *s, const ProtobufCMessage *msg)
{
    cm_json_out_reset(&s->text);
    s->text.last = 0;
    cm_pbjson_write(&s->text, msg);
    if (s->text.len && (memmem(s->text.data, s->text.len, "e308", 4) ||
                        memmem(s->text.data, s->text.len, "e+308", 5)))
        s->e308 = true;
    return &s->text;
}

/* Appends msg as the next element of a repeated message field (number) to b, as the one-piece
 * reply encodes it: JSON, its text (json_text) after a comma unless first; protobuf, the
 * field's tag, the length and the packed bytes. */
static void elem_add(struct cm_operator_snap *s, struct bytes *b, bool first, unsigned number,
                     const ProtobufCMessage *msg)
{
    if (s->media == CM_MEDIA_JSON) {
        const struct cm_json_out *t = json_text(s, msg);
        if (!first)
            bytes_add(b, ",", 1);
        bytes_add(b, t->data, t->len);
    } else {
        size_t n = protobuf_c_message_get_packed_size(msg);
        varint_add(b, ld_tag(number));
        varint_add(b, n);
        protobuf_c_message_pack(msg, bytes_reserve(b, n));
        b->len += n;
    }
}

static void list_add(struct cm_operator_snap *s, enum list_id id, const ProtobufCMessage *msg)
{
    struct list *l = &s->lists[id];
    elem_add(s, &l->buf, l->n == 0, l->number, msg);
    l->n++;
}

/* Adds msg (a heap message) to list id and frees it. */
static void list_take(struct cm_operator_snap *s, enum list_id id, void *msg)
{
    list_add(s, id, msg);
    protobuf_c_message_free_unpacked(msg, NULL);
}

static const void *list_data(const struct list *l, size_t *len)
{
    *len = l->buf.len;
    return l->buf.p;
}

/* ---- collecting ---- */

static void add_completed_ring(struct cm_operator_snap *s, const struct cm_framework *fw)
{
    /* Bounded by --max_completed_tasks_per_framework: one piece. */
    for (size_t i = 0; i < cm_ring_count(&fw->completed_tasks); i++)
        list_take(s, L_COMPLETED_TASKS, cm_operator_task(cm_ring_at(&fw->completed_tasks, i)));
}

static void stage_start(struct cm_operator_snap *s)
{
    struct cm_master *m = s->m;
    cm_idlist_clear(&s->ids);
    switch (s->stage) {
    case ST_TASKS:
    case ST_EXECUTORS:
    case ST_FRAMEWORKS: ids_of_map(&s->ids, &m->frameworks); break;
    case ST_COMPLETED_FW_TASKS:
    case ST_COMPLETED_FRAMEWORKS:
        for (size_t i = 0; i < cm_ring_count(&m->completed_list); i++)
            cm_idlist_add(&s->ids,
                          ((const struct cm_framework *)cm_ring_at(&m->completed_list, i))->id);
        break;
    case ST_AGENTS: ids_of_map(&s->ids, &m->agents); break;
    case ST_RECOVERED_AGENTS: ids_of_map(&s->ids, &m->recovering_agents); break;
    case ST_DONE: break;
    }
}

/* The next framework of the stage that still exists in map, or NULL at the end. */
static struct cm_framework *next_fw(struct cm_operator_snap *s, const struct cm_strmap *map)
{
    const char *id;
    while ((id = cm_idlist_next(&s->ids))) {
        struct cm_framework *fw = cm_strmap_get(map, id);
        if (fw)
            return fw;
    }
    return NULL;
}

/* ST_TASKS and ST_EXECUTORS: one framework's objects, a few per piece. True at the stage's
 * end. */
static bool fw_objects_piece(struct cm_operator_snap *s)
{
    struct cm_master *m = s->m;
    if (!s->fw_id) {
        struct cm_framework *fw = next_fw(s, &m->frameworks);
        if (!fw)
            return true;
        s->fw_id = cm_xstrdup(fw->id);
        cm_idlist_clear(&s->inner);
        if (s->stage == ST_TASKS) {
            ids_of_map(&s->inner, &fw->tasks);
            s->inner_active = s->inner.n;
            for (const struct cm_task *t = fw->uhead; t; t = t->unext)
                cm_idlist_add(&s->inner, t->id);
        } else {
            ids_of_map(&s->inner, &fw->executors);
        }
        return false;
    }
    struct cm_framework *fw = cm_strmap_get(&m->frameworks, s->fw_id);
    for (int k = 0; fw && k < TASKS_PER_PIECE && s->inner.next < s->inner.n; k++) {
        bool active = s->inner.next < s->inner_active;
        const char *id = cm_idlist_next(&s->inner);
        if (s->stage == ST_EXECUTORS) {
            const struct cm_executor *e = cm_strmap_get(&fw->executors, id);
            if (!e)
                continue;
            Mesos__V1__Master__Response__GetExecutors__Executor *x = cm_operator_msg_new(
                &mesos__v1__master__response__get_executors__executor__descriptor);
            x->executor_info = cm_pb_dup(&e->info->base);
            x->agent_id = cm_operator_msg_new(&mesos__v1__agent_id__descriptor);
            x->agent_id->value = cm_xstrdup(e->agent->id);
            list_take(s, L_EXECUTORS, x);
            continue;
        }
        const struct cm_task *t = cm_strmap_get(active ? &fw->tasks : &fw->unreachable_tasks, id);
        if (t)
            list_take(s, active ? L_TASKS : L_UNREACHABLE_TASKS, cm_operator_task(t));
    }
    if (fw && s->inner.next < s->inner.n)
        return false;
    if (fw && s->stage == ST_TASKS)
        add_completed_ring(s, fw);
    free(s->fw_id);
    s->fw_id = NULL;
    cm_idlist_clear(&s->inner);
    return false;
}

/* The framework's encoding without offers, cut where its offers go: fw_head and fw_tail. */
static void fw_split(struct cm_operator_snap *s, const struct cm_framework *fw)
{
    Mesos__V1__Master__Response__GetFrameworks__Framework *o = cm_operator_framework_head(fw);
    s->fw_head.len = s->fw_tail.len = s->fw_offers.len = 0;
    s->fw_noffers = 0;
    if (s->media != CM_MEDIA_JSON) {
        /* Packed in field order: the offers go before the first field numbered after them. */
        size_t n = protobuf_c_message_get_packed_size(&o->base);
        uint8_t *p = bytes_reserve(&s->fw_tail, n);
        protobuf_c_message_pack(&o->base, p);
        size_t at = 0, cut = n;
        while (at < n) {
            uint64_t tag = 0;
            for (unsigned sh = 0; at < n; sh += 7) {
                tag |= (uint64_t)(p[at] & 0x7f) << sh;
                if (!(p[at++] & 0x80))
                    break;
            }
            if ((tag >> 3) > s->offers_number) {
                cut = at - varint_len(tag);
                break;
            }
            uint64_t len = 0;
            switch (tag & 7) {
            case 0:
                while (at < n && (p[at++] & 0x80))
                    ;
                break;
            case 1: at += 8; break;
            case 5: at += 4; break;
            case 2:
                for (unsigned sh = 0; at < n; sh += 7) {
                    len |= (uint64_t)(p[at] & 0x7f) << sh;
                    if (!(p[at++] & 0x80))
                        break;
                }
                at += len;
                break;
            default: at = n; break; /* not produced by protobuf-c for these messages */
            }
        }
        bytes_add(&s->fw_head, p, cut);
        memmove(p, p + cut, n - cut);
        s->fw_tail.len = n - cut;
    } else {
        /* The text with one marker offer, cut around it ("offers":[ stays in the head, ] in
         * the tail). The marker's text has quotes that no string value can hold unescaped. */
        char marker[64];
        snprintf(marker, sizeof marker, "cmesos-offers-%p", (void *)s);
        Mesos__V1__OfferID mid = MESOS__V1__OFFER_ID__INIT;
        mid.value = marker;
        Mesos__V1__Offer mo = MESOS__V1__OFFER__INIT;
        mo.id = &mid;
        Mesos__V1__Offer *one = &mo;
        o->offers = &one;
        o->n_offers = 1;
        char *mtext = cm_xstrdup(json_text(s, &mo.base)->data);
        const char *text = json_text(s, &o->base)->data;
        o->offers = NULL;
        o->n_offers = 0;
        const char *at = strstr(text, mtext);
        if (at) {
            bytes_add(&s->fw_head, text, (size_t)(at - text));
            at += strlen(mtext);
            bytes_add(&s->fw_tail, at, strlen(at));
        } else {
            bytes_add(&s->fw_head, text, strlen(text)); /* cannot happen: whole, no offers */
        }
        free(mtext);
    }
    protobuf_c_message_free_unpacked(&o->base, NULL);
}

/* Ends the framework being written: its element goes to its list with the offers written. */
static void fw_finish(struct cm_operator_snap *s)
{
    struct list *l = &s->lists[s->stage == ST_FRAMEWORKS ? L_FRAMEWORKS : L_COMPLETED_FRAMEWORKS];
    struct bytes *b = &l->buf;
    const char *head = (const char *)s->fw_head.p, *tail = (const char *)s->fw_tail.p;
    size_t hlen = s->fw_head.len, tlen = s->fw_tail.len;
    if (s->media == CM_MEDIA_JSON) {
        static const char key[] = "\"offers\":[";
        if (l->n)
            bytes_add(b, ",", 1);
        if (!s->fw_noffers && tlen && hlen >= sizeof key - 1 &&
            memcmp(head + hlen - (sizeof key - 1), key, sizeof key - 1) == 0) {
            /* No offers: no "offers" member at all (as for any empty repeated field). */
            hlen -= sizeof key - 1;
            tail++, tlen--;
            if (hlen && head[hlen - 1] == ',')
                hlen--;
            else if (tlen && tail[0] == ',')
                tail++, tlen--;
        }
        bytes_add(b, head, hlen);
        bytes_add(b, s->fw_offers.p, s->fw_offers.len);
        bytes_add(b, tail, tlen);
    } else {
        varint_add(b, ld_tag(l->number));
        varint_add(b, hlen + s->fw_offers.len + tlen);
        bytes_add(b, head, hlen);
        bytes_add(b, s->fw_offers.p, s->fw_offers.len);
        bytes_add(b, tail, tlen);
    }
    l->n++;
    free(s->fw_id);
    s->fw_id = NULL;
    cm_idlist_clear(&s->inner);
}

/* ST_FRAMEWORKS and ST_COMPLETED_FRAMEWORKS: a framework's head, then its offers a few per
 * piece; true at the stage's end. */
static bool fw_piece(struct cm_operator_snap *s)
{
    const struct cm_strmap *map = s->stage == ST_FRAMEWORKS ? &s->m->frameworks : &s->m->completed;
    if (!s->fw_id) {
        struct cm_framework *fw = next_fw(s, map);
        if (!fw)
            return true;
        s->fw_id = cm_xstrdup(fw->id);
        fw_split(s, fw);
        cm_idlist_clear(&s->inner);
        ids_of_map(&s->inner, &fw->offers);
        return false;
    }
    const struct cm_framework *fw = cm_strmap_get(map, s->fw_id);
    const char *id;
    for (int k = 0; fw && k < TASKS_PER_PIECE && (id = cm_idlist_next(&s->inner)); k++) {
        const struct cm_offer *of = cm_strmap_get(&s->m->offers, id);
        if (!of || of->fw != fw)
            continue;
        Mesos__V1__Offer *o = cm_operator_offer(of);
        elem_add(s, &s->fw_offers, s->fw_noffers == 0, s->offers_number, &o->base);
        protobuf_c_message_free_unpacked(&o->base, NULL);
        s->fw_noffers++;
    }
    if (!fw || s->inner.next >= s->inner.n)
        fw_finish(s);
    return false;
}

/* One piece of the current stage; true when the stage is over. */
static bool stage_piece(struct cm_operator_snap *s)
{
    struct cm_master *m = s->m;
    switch (s->stage) {
    case ST_TASKS:
    case ST_EXECUTORS: return fw_objects_piece(s);
    case ST_COMPLETED_FW_TASKS: {
        struct cm_framework *fw = next_fw(s, &m->completed);
        if (!fw)
            return true;
        add_completed_ring(s, fw);
        return false;
    }
    case ST_FRAMEWORKS:
    case ST_COMPLETED_FRAMEWORKS: return fw_piece(s);
    case ST_AGENTS:
        for (int k = 0; k < AGENTS_PER_PIECE; k++) {
            const char *id = cm_idlist_next(&s->ids);
            if (!id)
                return true;
            const struct cm_agent *a = cm_strmap_get(&m->agents, id);
            if (a)
                list_take(s, L_AGENTS, cm_operator_agent(a));
        }
        return false;
    case ST_RECOVERED_AGENTS:
        /* Admitted agents that have not re-registered since the master restarted. */
        for (int k = 0; k < TASKS_PER_PIECE; k++) {
            const char *id = cm_idlist_next(&s->ids);
            if (!id)
                return true;
            const Mesos__V1__AgentInfo *info = cm_registrar_admitted(m->registrar, id);
            if (info && cm_strmap_get(&m->recovering_agents, id) && !cm_master_agent(m, id))
                list_add(s, L_RECOVERED_AGENTS, &info->base);
        }
        return false;
    case ST_DONE: return true;
    }
    return true;
}

/* ---- writing: the enclosing messages around the lists ---- */

static void part_skel(struct cm_operator_snap *s, size_t from)
{
    if (s->skel.len == from)
        return;
    if (s->nparts == s->part_cap) {
        s->part_cap = s->part_cap ? s->part_cap * 2 : 32;
        s->parts = cm_xrealloc(s->parts, s->part_cap * sizeof *s->parts);
    }
    s->parts[s->nparts++] = (struct part){-1, from, s->skel.len - from};
}

static void part_list(struct cm_operator_snap *s, int list)
{
    if (s->nparts == s->part_cap) {
        s->part_cap = s->part_cap ? s->part_cap * 2 : 32;
        s->parts = cm_xrealloc(s->parts, s->part_cap * sizeof *s->parts);
    }
    s->parts[s->nparts++] = (struct part){list, 0, 0};
}

static int list_of(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    for (int i = 0; i < NLISTS; i++)
        if (list_fields[i].desc == d && strcmp(list_fields[i].field, f->name) == 0)
            return i;
    return -1;
}

/* Whether d is one of the messages made of lists (GetState and the four it holds). */
static bool is_group(const ProtobufCMessageDescriptor *d)
{
    if (d == &mesos__v1__master__response__get_state__descriptor)
        return true;
    for (int i = 0; i < NLISTS; i++)
        if (list_fields[i].desc == d)
            return true;
    return false;
}

/* Packed size of group d: its lists and its groups (every group field is present, as the
 * one-piece builders set them all). */
static size_t group_size(const struct cm_operator_snap *s, const ProtobufCMessageDescriptor *d)
{
    size_t n = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        int l = list_of(d, f);
        if (l >= 0) {
            n += s->lists[l].buf.len;
        } else if (f->label != PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE &&
                   is_group(f->descriptor)) {
            size_t k = group_size(s, f->descriptor);
            n += varint_len(ld_tag(f->id)) + varint_len(k) + k;
        }
    }
    return n;
}

/* Plans group d's bytes (protobuf) or text (JSON) in field order. */
static void plan_group(struct cm_operator_snap *s, const ProtobufCMessageDescriptor *d)
{
    bool json = s->media == CM_MEDIA_JSON;
    bool first = true;
    size_t from = s->skel.len;
    if (json)
        bytes_add(&s->skel, "{", 1);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        int l = list_of(d, f);
        bool sub = l < 0 && f->label != PROTOBUF_C_LABEL_REPEATED &&
                   f->type == PROTOBUF_C_TYPE_MESSAGE && is_group(f->descriptor);
        if ((l < 0 && !sub) || (l >= 0 && s->lists[l].n == 0))
            continue; /* absent, or a repeated field left empty (written by nobody) */
        if (json) {
            if (!first)
                bytes_add(&s->skel, ",", 1);
            bytes_add(&s->skel, "\"", 1);
            bytes_add(&s->skel, f->name, strlen(f->name));
            bytes_add(&s->skel, l >= 0 ? "\":[" : "\":", l >= 0 ? 3 : 2);
        } else if (sub) {
            varint_add(&s->skel, ld_tag(f->id));
            varint_add(&s->skel, group_size(s, f->descriptor));
        }
        first = false;
        if (l >= 0) {
            part_skel(s, from);
            part_list(s, l);
            from = s->skel.len;
            if (json)
                bytes_add(&s->skel, "]", 1);
        } else {
            part_skel(s, from);
            plan_group(s, f->descriptor);
            from = s->skel.len;
        }
    }
    if (json)
        bytes_add(&s->skel, "}", 1);
    part_skel(s, from);
}

/* The outer message shell (only its scalars set) as encoded in the media: JSON without its
 * closing brace (ready for ",<key>:..."), protobuf whole. */
static void shell_add(struct cm_operator_snap *s, const ProtobufCMessage *msg, bool open_end)
{
    if (s->media == CM_MEDIA_JSON) {
        const struct cm_json_out *t = json_text(s, msg);
        /* "{...}": drop the closing brace; the caller closes it. */
        bytes_add(&s->skel, t->data, t->len - (open_end ? 1 : 0));
    } else {
        size_t n = protobuf_c_message_get_packed_size(msg);
        protobuf_c_message_pack(msg, bytes_reserve(&s->skel, n));
        s->skel.len += n;
    }
}

static const ProtobufCFieldDescriptor *field(const ProtobufCMessageDescriptor *d, const char *name)
{
    return protobuf_c_message_descriptor_get_field_by_name(d, name);
}

/* JSON: appends ',' unless the text so far ends an object's opening. */
static void json_member(struct cm_operator_snap *s, const char *name)
{
    if (s->skel.len && s->skel.p[s->skel.len - 1] != '{')
        bytes_add(&s->skel, ",", 1);
    bytes_add(&s->skel, "\"", 1);
    bytes_add(&s->skel, name, strlen(name));
    bytes_add(&s->skel, "\":", 2);
}

static const ProtobufCMessageDescriptor *group_of(enum cm_operator_snap_kind kind,
                                                  const char **name)
{
    switch (kind) {
    case CM_OPERATOR_SNAP_TASKS:
        *name = "get_tasks";
        return &mesos__v1__master__response__get_tasks__descriptor;
    case CM_OPERATOR_SNAP_AGENTS:
        *name = "get_agents";
        return &mesos__v1__master__response__get_agents__descriptor;
    case CM_OPERATOR_SNAP_FRAMEWORKS:
        *name = "get_frameworks";
        return &mesos__v1__master__response__get_frameworks__descriptor;
    case CM_OPERATOR_SNAP_EXECUTORS:
        *name = "get_executors";
        return &mesos__v1__master__response__get_executors__descriptor;
    default: *name = "get_state"; return &mesos__v1__master__response__get_state__descriptor;
    }
}

static int response_type(enum cm_operator_snap_kind kind)
{
    switch (kind) {
    case CM_OPERATOR_SNAP_TASKS: return MESOS__V1__MASTER__RESPONSE__TYPE__GET_TASKS;
    case CM_OPERATOR_SNAP_AGENTS: return MESOS__V1__MASTER__RESPONSE__TYPE__GET_AGENTS;
    case CM_OPERATOR_SNAP_FRAMEWORKS: return MESOS__V1__MASTER__RESPONSE__TYPE__GET_FRAMEWORKS;
    case CM_OPERATOR_SNAP_EXECUTORS: return MESOS__V1__MASTER__RESPONSE__TYPE__GET_EXECUTORS;
    default: return MESOS__V1__MASTER__RESPONSE__TYPE__GET_STATE;
    }
}

/* Plans the whole output once every list is collected. */
static void plan(struct cm_operator_snap *s)
{
    bool json = s->media == CM_MEDIA_JSON;
    const ProtobufCMessageDescriptor *gs = &mesos__v1__master__response__get_state__descriptor;
    size_t from = 0;
    if (s->kind != CM_OPERATOR_SNAP_SUBSCRIBED) {
        const char *name;
        const ProtobufCMessageDescriptor *g = group_of(s->kind, &name);
        Mesos__V1__Master__Response r = MESOS__V1__MASTER__RESPONSE__INIT;
        r.has_type = 1;
        r.type = (Mesos__V1__Master__Response__Type)response_type(s->kind);
        shell_add(s, &r.base, true);
        if (json) {
            json_member(s, name);
        } else {
            varint_add(&s->skel, ld_tag(field(&mesos__v1__master__response__descriptor, name)->id));
            varint_add(&s->skel, group_size(s, g));
        }
        part_skel(s, from);
        plan_group(s, g);
        from = s->skel.len;
        if (json)
            bytes_add(&s->skel, "}", 1);
        part_skel(s, from);
    } else {
        /* Event{type, subscribed: Subscribed{get_state, heartbeat_interval_seconds}}. */
        Mesos__V1__Master__Event ev = MESOS__V1__MASTER__EVENT__INIT;
        ev.has_type = 1;
        ev.type = MESOS__V1__MASTER__EVENT__TYPE__SUBSCRIBED;
        Mesos__V1__Master__Event__Subscribed sub = MESOS__V1__MASTER__EVENT__SUBSCRIBED__INIT;
        sub.has_heartbeat_interval_seconds = 1;
        sub.heartbeat_interval_seconds = CM_OPERATOR_HEARTBEAT_SECS;
        const ProtobufCMessageDescriptor *subd = &mesos__v1__master__event__subscribed__descriptor;
        unsigned gs_field = field(subd, "get_state")->id;
        shell_add(s, &ev.base, true);
        if (json) {
            json_member(s, "subscribed");
            bytes_add(&s->skel, "{", 1);
            json_member(s, "get_state");
        } else {
            size_t g = group_size(s, gs);
            size_t rest = protobuf_c_message_get_packed_size(&sub.base);
            size_t subsize = varint_len(ld_tag(gs_field)) + varint_len(g) + g + rest;
            varint_add(&s->skel,
                       ld_tag(field(&mesos__v1__master__event__descriptor, "subscribed")->id));
            varint_add(&s->skel, subsize);
            varint_add(&s->skel, ld_tag(gs_field));
            varint_add(&s->skel, g);
        }
        part_skel(s, from);
        plan_group(s, gs);
        from = s->skel.len;
        if (json) {
            /* The rest of Subscribed: its shell's members after "{", then the event's "}". */
            const struct cm_json_out *t = json_text(s, &sub.base);
            if (t->len > 2)
                bytes_add(&s->skel, ",", 1);
            bytes_add(&s->skel, t->data + 1, t->len - 1);
            bytes_add(&s->skel, "}", 1);
        } else {
            shell_add(s, &sub.base, false);
        }
        part_skel(s, from);
    }
    s->total = 0;
    for (size_t i = 0; i < s->nparts; i++) {
        if (s->parts[i].list >= 0)
            list_data(&s->lists[s->parts[i].list], &s->parts[i].len);
        s->total += s->parts[i].len;
    }
    if (s->recordio) {
        /* "<length>\n" first (docs/wire-protocol.md §1.4). */
        char hdr[32];
        int n = snprintf(hdr, sizeof hdr, "%zu\n", s->total);
        from = s->skel.len;
        bytes_add(&s->skel, hdr, (size_t)n);
        part_skel(s, from);
        struct part h = s->parts[s->nparts - 1];
        memmove(s->parts + 1, s->parts, (s->nparts - 1) * sizeof *s->parts);
        s->parts[0] = h;
        s->total += h.len;
    }
    s->planned = true;
}

/* ---- the interface ---- */

static const unsigned stages_of[] = {
    [CM_OPERATOR_SNAP_STATE] = 0x7f,
    [CM_OPERATOR_SNAP_SUBSCRIBED] = 0x7f,
    [CM_OPERATOR_SNAP_TASKS] = 1u << ST_TASKS | 1u << ST_COMPLETED_FW_TASKS,
    [CM_OPERATOR_SNAP_EXECUTORS] = 1u << ST_EXECUTORS,
    [CM_OPERATOR_SNAP_FRAMEWORKS] = 1u << ST_FRAMEWORKS | 1u << ST_COMPLETED_FRAMEWORKS,
    [CM_OPERATOR_SNAP_AGENTS] = 1u << ST_AGENTS | 1u << ST_RECOVERED_AGENTS,
};

/* Starts collecting from the first stage (again: what was collected is dropped). */
static void snap_restart(struct cm_operator_snap *s)
{
    for (int i = 0; i < NLISTS; i++) {
        s->lists[i].buf.len = 0;
        s->lists[i].n = 0;
    }
    cm_idlist_clear(&s->ids);
    cm_idlist_clear(&s->inner);
    free(s->fw_id);
    s->fw_id = NULL;
    s->stage_started = false;
    s->stage = ST_TASKS;
    while (s->stage < ST_DONE && !(s->stages & (1u << s->stage)))
        s->stage++;
}

struct cm_operator_snap *cm_operator_snap_new(struct cm_master *m, enum cm_operator_snap_kind kind,
                                              enum cm_media media, bool recordio)
{
    struct cm_operator_snap *s = cm_xcalloc(1, sizeof *s);
    s->m = m;
    s->kind = kind;
    s->media = media == CM_MEDIA_JSON ? CM_MEDIA_JSON : CM_MEDIA_PROTOBUF;
    s->recordio = recordio;
    s->stages = stages_of[kind];
    for (int i = 0; i < NLISTS; i++)
        s->lists[i].number = field(list_fields[i].desc, list_fields[i].field)->id;
    s->offers_number =
        field(&mesos__v1__master__response__get_frameworks__framework__descriptor, "offers")->id;
    s->text.real_digits = 15;
    snap_restart(s);
    return s;
}

void cm_operator_snap_free(void *arg)
{
    struct cm_operator_snap *s = arg;
    if (!s)
        return;
    cm_idlist_clear(&s->ids);
    cm_idlist_clear(&s->inner);
    free(s->fw_id);
    free(s->fw_head.p);
    free(s->fw_tail.p);
    free(s->fw_offers.p);
    cm_json_out_cleanup(&s->text);
    for (int i = 0; i < NLISTS; i++) {
        free(s->lists[i].buf.p);
    }
    free(s->skel.p);
    free(s->parts);
    free(s);
}

bool cm_operator_snap_collected(const struct cm_operator_snap *s)
{
    return s->planned;
}

size_t cm_operator_snap_size(const struct cm_operator_snap *s)
{
    return s->planned ? s->total : 0;
}

bool cm_operator_snap_produce(void *arg, struct cm_json_out *out)
{
    struct cm_operator_snap *s = arg;
    if (!s->planned) {
        if (s->stage < ST_DONE) {
            if (!s->stage_started) {
                stage_start(s);
                s->stage_started = true;
            }
            if (stage_piece(s)) {
                s->stage_started = false;
                do
                    s->stage++;
                while (s->stage < ST_DONE && !(s->stages & (1u << s->stage)));
            }
            return true;
        }
        if (s->e308 && s->text.real_digits != 17) {
            /* The one-piece reply would print every double with 17 digits (json_text). */
            cm_json_out_cleanup(&s->text);
            memset(&s->text, 0, sizeof s->text);
            s->text.real_digits = 17;
            snap_restart(s);
            return true;
        }
        plan(s);
        return true;
    }
    size_t budget = WRITE_PIECE;
    while (budget && s->cur < s->nparts) {
        const struct part *p = &s->parts[s->cur];
        const uint8_t *data;
        if (p->list >= 0) {
            size_t len;
            data = list_data(&s->lists[p->list], &len);
        } else {
            data = s->skel.p + p->off;
        }
        size_t n = p->len - s->cur_off;
        if (n > budget)
            n = budget;
        cm_json_out_raw(out, (const char *)data + s->cur_off, n);
        budget -= n;
        s->cur_off += n;
        if (s->cur_off == p->len) {
            s->cur++;
            s->cur_off = 0;
        }
    }
    return s->cur < s->nparts;
}
