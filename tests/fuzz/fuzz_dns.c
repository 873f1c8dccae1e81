/*
 * libFuzzer harness for the dns sniffer's query parser, both entry points:
 * the input as a UDP datagram and as a TCP stream (2-byte length first).
 * Besides crashes (ASan, UBSan), it checks the parser's contract: a valid
 * status, a FOUND name that is normalised or empty, the datagram parser
 * never answering MORE, agreement between the two on the same message, and
 * the stream's prefix consistency (a prefix answers MORE or the same as the
 * whole input; FOUND is decided exactly at the end of the first question).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vr_dns_parse.h"
#include "vr_sniff_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void vr_fuzz_dns_check_found(const struct vr_dns_query *q, size_t msg_len)
{
    if (q->qname[0] != '\0' && !vr_sniff_name_is_normal(q->qname))
        abort();
    if ((q->qname[0] != '\0') != (q->name_is_host != 0))
        abort();
    if (q->question_end < VR_DNS_MIN_QUERY || q->question_end > msg_len)
        abort();
}

static void vr_fuzz_dns_check_prefix(const uint8_t *data, size_t cut, int whole,
                                     const struct vr_dns_query *wq)
{
    struct vr_dns_query q;
    int st = vr_dns_parse_stream(data, cut, &q);
    if (st != VR_SNIFF_MORE && st != whole)
        abort();
    if (st == VR_SNIFF_FOUND && strcmp(q.qname, wq->qname) != 0)
        abort();
}

static void vr_fuzz_dns_stream(const uint8_t *data, size_t size)
{
    struct vr_dns_query q;
    int st = vr_dns_parse_stream(data, size, &q);
    if (st < VR_SNIFF_MORE || st > VR_SNIFF_INVALID)
        abort();
    if (st == VR_SNIFF_FOUND) {
        vr_fuzz_dns_check_found(&q, q.msg_len);
        size_t end = VR_DNS_TCP_PREFIX + q.question_end;
        if (end > size)
            abort();
        struct vr_dns_query e;
        if (vr_dns_parse_stream(data, end - 1, &e) != VR_SNIFF_MORE)
            abort();
        vr_fuzz_dns_check_prefix(data, end, st, &q);
    }
    if (size > 0) {
        vr_fuzz_dns_check_prefix(data, size - 1, st, &q);
        vr_fuzz_dns_check_prefix(data, size / 2, st, &q);
    }
    /* The whole message present: the stream answers as the datagram. */
    if (size >= VR_DNS_TCP_PREFIX) {
        size_t msg_len = (size_t)(data[0] << 8 | data[1]);
        if (size - VR_DNS_TCP_PREFIX >= msg_len) {
            struct vr_dns_query d;
            int ds = vr_dns_parse_datagram(data + VR_DNS_TCP_PREFIX, msg_len, &d);
            if (ds != st || (ds == VR_SNIFF_FOUND && strcmp(d.qname, q.qname) != 0))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vr_dns_query q;
    int st = vr_dns_parse_datagram(data, size, &q);
    if (st < VR_SNIFF_NOT_MINE || st > VR_SNIFF_INVALID) /* a datagram is whole */
        abort();
    if (st == VR_SNIFF_FOUND)
        vr_fuzz_dns_check_found(&q, size);
    vr_fuzz_dns_stream(data, size);
    return 0;
}
