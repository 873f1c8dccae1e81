/* The timer wheel (core/process/vr_wheel.c) on a real libevent loop: deadlines fire
 * once, never early and within about a second of being due; cancelled and
 * far-off ones do not; an entry may reschedule itself from its callback;
 * advance only ever moves a deadline earlier;
 * the wheel's tick runs only while something is scheduled; a thousand
 * entries due together all fire in one tick. */
#include <event2/event.h>
#include <stdint.h>
#include <string.h>

#include "vr_test.h"
#include "vr_watch.h"
#include "vr_wheel.h"

struct item {
    struct vr_wheel_entry e;
    uint64_t due_ms;
    uint64_t fired_ms[2];
    int fired;
    uint64_t again_ms; /* reschedule this far ahead on the first firing */
};

static struct vr_wheel wheel;
static struct event_base *base;

static void expire(struct vr_wheel_entry *e, uint64_t now_ms, void *arg)
{
    (void)arg;
    struct item *it = (struct item *)e;
    if (it->fired < 2)
        it->fired_ms[it->fired] = now_ms;
    it->fired++;
    if (it->fired == 1 && it->again_ms) {
        it->due_ms = now_ms + it->again_ms;
        vr_wheel_schedule(&wheel, e, it->due_ms);
    }
}

static void run_for(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void schedule(struct item *it, uint64_t in_ms)
{
    it->due_ms = vr_now_ms() + in_ms;
    vr_wheel_schedule(&wheel, &it->e, it->due_ms);
}

/* Fired once, not before its deadline, at most 1.1 s after it. */
static int on_time(const struct item *it, int n, uint64_t due_ms)
{
    if (it->fired != n)
        return 0;
    uint64_t at = it->fired_ms[n - 1];
    return at >= due_ms && at <= due_ms + 1100;
}

int main(void)
{
    base = event_base_new();
    CHECK(base != NULL);
    if (base == NULL)
        return vr_test_report();
    CHECK(vr_wheel_init(&wheel, base, expire, NULL) == 0);
    CHECK(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 0); /* nothing scheduled: no tick */

    static struct item a, b, far, cancelled, moved, again, sooner, kept, many[1000];
    schedule(&a, 700);
    schedule(&b, 1700);
    schedule(&far, 300 * 1000); /* beyond the wheel's 256 s span */
    schedule(&cancelled, 500);
    vr_wheel_cancel(&wheel, &cancelled.e);
    CHECK(!vr_wheel_scheduled(&cancelled.e));
    schedule(&moved, 400);
    schedule(&moved, 1200); /* moved later before it was due */
    /* advance: only ever earlier */
    schedule(&sooner, 2500);
    sooner.due_ms = vr_now_ms() + 600;
    vr_wheel_advance(&wheel, &sooner.e, sooner.due_ms);
    schedule(&kept, 800);
    vr_wheel_advance(&wheel, &kept.e, vr_now_ms() + 2500); /* later: ignored */
    again.again_ms = 600;
    schedule(&again, 300);
    uint64_t again_first_due = again.due_ms;
    for (int i = 0; i < 1000; i++)
        schedule(&many[i], 900);
    CHECK(wheel.n == 1007);
    CHECK(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 1); /* one tick for all */

    run_for(2900);
    CHECK(on_time(&a, 1, a.due_ms));
    CHECK(on_time(&b, 1, b.due_ms));
    CHECK(on_time(&moved, 1, moved.due_ms));
    CHECK(on_time(&sooner, 1, sooner.due_ms));
    CHECK(on_time(&kept, 1, kept.due_ms));
    CHECK(again.fired == 2);
    CHECK(again.fired_ms[0] >= again_first_due && again.fired_ms[0] <= again_first_due + 1100);
    CHECK(again.fired_ms[1] >= again.due_ms && again.fired_ms[1] <= again.due_ms + 1100);
    CHECK(far.fired == 0 && vr_wheel_scheduled(&far.e));
    CHECK(cancelled.fired == 0);
    int all = 1;
    for (int i = 0; i < 1000; i++)
        all &= on_time(&many[i], 1, many[i].due_ms);
    CHECK(all);
    CHECK(wheel.n == 1); /* only the far one is left */

    vr_wheel_cancel(&wheel, &far.e);
    CHECK(wheel.n == 0);
    run_for(1200); /* the last tick finds nothing and does not re-arm */
    CHECK(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 0);

    vr_wheel_fini(&wheel);
    event_base_free(base);
    return vr_test_report();
}
