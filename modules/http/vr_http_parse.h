/*
 * The HTTP/1.x request parser behind the "http" sniffer: a pure function
 * over the first bytes of a stream, linked directly by the unit test and the
 * libFuzzer harness.
 */
#ifndef VR_HTTP_PARSE_H
#define VR_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include <vrouter/vr_sniffer.h>

/* Longest request line, and most bytes we read looking for the Host. */
#define VR_HTTP_LINE_MAX 8192
#define VR_HTTP_HEAD_MAX 16384

enum vr_http_host_source {
    VR_HTTP_HOST_NONE = 0,   /* HTTP/1.0 request without a Host */
    VR_HTTP_HOST_HEADER = 1, /* the Host header field */
    VR_HTTP_HOST_TARGET = 2, /* absolute-form or CONNECT authority-form target */
};

struct vr_http_request {
    char method[16];
    int version_minor;            /* HTTP/1.<minor> */
    int host_source;              /* enum vr_http_host_source */
    int host_is_ip;               /* the host was an IPv4 or [IPv6] literal */
    char domain[VR_SNIFF_DOMAIN_MAX]; /* normalised; empty if no host name */
    size_t used;                  /* bytes of data the answer was decided on */
};

/*
 * Parse the HTTP/1.x request head at the start of data[0..len). Returns
 *   VR_SNIFF_MORE      a request so far, more bytes needed;
 *   VR_SNIFF_NOT_MINE  the first bytes are not a known method and a space
 *                      (decided within the first 10 bytes);
 *   VR_SNIFF_FOUND     req filled in: domain from the target (absolute or
 *                      authority form) or the first Host header, decided as
 *                      soon as that line and the first byte after it are in;
 *   VR_SNIFF_INVALID   a method, then something that is not HTTP/1.x, a
 *                      malformed Host, a line or head over the bounds.
 * Reads only data[0..len); a prefix of an input returns MORE or the same
 * answer as the whole input.
 */
int vr_http_parse_request(const uint8_t *data, size_t len, struct vr_http_request *req);

/*
 * The http sniffer's sniff_wake (ABI 1.1): scans data[seen..len) once, with
 * its progress in *mark (0 at the start), and returns 1 when
 * vr_http_parse_request on data[0..len) may answer other than MORE. It may
 * answer FOUND only at the end of the request line (the first LF: an
 * absolute or authority target), at the byte after the first Host line's LF,
 * or at the end of the head; it wakes at those, while in the first 16 bytes
 * (the method), when the request line outgrows VR_HTTP_LINE_MAX and from
 * VR_HTTP_HEAD_MAX on. Malformed header lines are left to the next run.
 */
int vr_http_wake(const uint8_t *data, size_t seen, size_t len, uint64_t *mark);

/*
 * Parse an authority "host[:port]" or "[v6][:port]" into req->domain and
 * req->host_is_ip. Returns 0, or -EINVAL when it is malformed (bad port,
 * bad brackets, unbracketed colons, characters not allowed in a URI host).
 * A well-formed host that is not a host name leaves domain empty.
 */
int vr_http_parse_authority(const char *s, size_t len, struct vr_http_request *req);

#endif
