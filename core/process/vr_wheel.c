#include "vr_wheel.h"

#include <event2/event.h>
#include <string.h>

#include "vr_log.h"
#include "vr_watch.h"

#define SLOT_MASK (VR_WHEEL_SLOTS - 1)

static void list_init(struct vr_wheel_link *head) { head->prev = head->next = head; }

static bool list_empty(const struct vr_wheel_link *head) { return head->next == head; }

static void list_add(struct vr_wheel_link *head, struct vr_wheel_link *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

static void list_del(struct vr_wheel_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = NULL;
}

static struct vr_wheel_entry *entry_of(struct vr_wheel_link *l)
{
    return (struct vr_wheel_entry *)((char *)l - offsetof(struct vr_wheel_entry, link));
}

static void arm(struct vr_wheel *wh)
{
    if (wh->armed || wh->n == 0)
        return;
    /* At the next second boundary: a deadline fires within a second. */
    uint64_t wait_ms = 1000 - vr_now_ms() % 1000 + 1;
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)(wait_ms % 1000 * 1000)};
    if (event_add(wh->tick, &tv) < 0) {
        vr_err("timer wheel: cannot arm its tick (out of memory): idle timeouts wait for the next deadline change");
        return;
    }
    wh->armed = true;
}

/* Expires what is due in the slot of second s (entries of a later turn stay). */
static void expire_slot(struct vr_wheel *wh, uint64_t s, uint64_t now_s, uint64_t now_ms)
{
    struct vr_wheel_link *slot = &wh->slots[s & SLOT_MASK];
    if (list_empty(slot))
        return;
    /* Move the slot aside: callbacks may schedule into it or cancel any entry. */
    wh->running.next = slot->next;
    wh->running.prev = slot->prev;
    slot->next->prev = &wh->running;
    slot->prev->next = &wh->running;
    list_init(slot);
    while (!list_empty(&wh->running)) {
        struct vr_wheel_link *l = wh->running.next;
        struct vr_wheel_entry *e = entry_of(l);
        list_del(l);
        if (e->due_s > now_s) {
            list_add(&wh->slots[e->due_s & SLOT_MASK], l);
            continue;
        }
        wh->n--;
        wh->expire(e, now_ms, wh->arg);
    }
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vr_wheel *wh = arg;
    wh->armed = false;
    uint64_t now_ms = vr_now_ms(), now_s = now_ms / 1000;
    /* A late tick (a busy loop) catches up, each slot at most once. */
    uint64_t from = wh->done_s + 1;
    if (now_s >= from + VR_WHEEL_SLOTS)
        from = now_s - VR_WHEEL_SLOTS + 1;
    for (uint64_t s = from; s <= now_s; s++)
        expire_slot(wh, s, now_s, now_ms);
    if (now_s > wh->done_s)
        wh->done_s = now_s;
    arm(wh);
}

int vr_wheel_init(struct vr_wheel *wh, struct event_base *base, vr_wheel_expire_cb expire, void *arg)
{
    memset(wh, 0, sizeof(*wh));
    for (size_t i = 0; i < VR_WHEEL_SLOTS; i++)
        list_init(&wh->slots[i]);
    list_init(&wh->running);
    wh->expire = expire;
    wh->arg = arg;
    wh->done_s = vr_now_ms() / 1000;
    wh->tick = evtimer_new(base, tick, wh);
    return wh->tick ? 0 : -1;
}

void vr_wheel_fini(struct vr_wheel *wh)
{
    if (wh->tick)
        event_free(wh->tick);
    wh->tick = NULL;
    for (size_t i = 0; i < VR_WHEEL_SLOTS; i++)
        while (!list_empty(&wh->slots[i]))
            list_del(wh->slots[i].next);
    wh->n = 0;
}

static uint64_t due_second(uint64_t due_ms) { return (due_ms + 999) / 1000; }

void vr_wheel_schedule(struct vr_wheel *wh, struct vr_wheel_entry *e, uint64_t due_ms)
{
    if (vr_wheel_scheduled(e))
        list_del(&e->link);
    else
        wh->n++;
    e->due_s = due_second(due_ms);
    /* Already past: the next tick takes it (never the slot behind done_s). */
    uint64_t s = e->due_s > wh->done_s ? e->due_s : wh->done_s + 1;
    list_add(&wh->slots[s & SLOT_MASK], &e->link);
    arm(wh);
}

void vr_wheel_advance(struct vr_wheel *wh, struct vr_wheel_entry *e, uint64_t due_ms)
{
    if (!vr_wheel_scheduled(e) || due_second(due_ms) < e->due_s)
        vr_wheel_schedule(wh, e, due_ms);
}

void vr_wheel_cancel(struct vr_wheel *wh, struct vr_wheel_entry *e)
{
    if (!vr_wheel_scheduled(e))
        return;
    list_del(&e->link);
    wh->n--;
}
