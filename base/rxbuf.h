/*
 * rxbuf.h — a connection's receive buffer for size-prefixed frames (Kafka's
 * `int32 size` + `size` bytes), read into in place.
 *
 * The node lends the buffer's free tail to the env for each read
 * (env_conn_cbs.on_alloc -> rxbuf_lend) and hands every on_data to
 * rxbuf_received, which keeps bytes that were read into the loan where
 * they are and copies any others (the env's own buffer). Once a frame's
 * size prefix has arrived, the loan is the rest of that frame, so a large
 * frame is read straight into place and taken out (rxbuf_next) with no
 * copy. Small frames share loans of RXBUF_READ_BYTES; what stays of a cut
 * frame moves to the front at most once (one read's worth). A frame larger
 * than the buffer grows it by doubling as its bytes arrive (its start is
 * then moved); the buffer is kept, so frames of a steady size are not
 * copied at all.
 *
 * Limits: a size prefix outside [frame_bytes_min, frame_bytes_max] is an
 * error that sticks, found as soon as the 4 prefix bytes are in and
 * before any memory is reserved for the frame (frame_bytes_max is the
 * configured maximum: socket.request.max.bytes on a broker). Memory
 * follows the bytes that really arrive, not the sizes announced: about
 * twice the bytes buffered, at least 4 reads, or what earlier frames
 * needed (up to RXBUF_KEEP_BYTES).
 *
 * Ownership: frames returned by rxbuf_next are borrowed from the rxbuf and
 * valid until the next rxbuf_lend, rxbuf_received or rxbuf_free.
 */
#ifndef SLUICE_BASE_RXBUF_H
#define SLUICE_BASE_RXBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of a size prefix. */
#define RXBUF_PREFIX_BYTES ((size_t)4)
/* A loan's size while no frame bigger than this is being read. */
#define RXBUF_READ_BYTES ((size_t)64 * 1024)
/* An empty buffer larger than this is given back to the allocator (above
 * the broker's largest fetch response, 16 MiB, so a consumer keeps its
 * buffer between responses). */
#define RXBUF_KEEP_BYTES ((size_t)20 << 20)

typedef struct rxbuf rxbuf;

/* 0 < frame_bytes_min <= frame_bytes_max (asserted). [owned] */
rxbuf *rxbuf_new(int32_t frame_bytes_min, int32_t frame_bytes_max);
void rxbuf_free(rxbuf *rx); /* NULL is fine */

/* For on_alloc: the free tail to read into, *len bytes (> 0), or NULL
 * after an error (bytes then go nowhere useful: the caller is closing). */
uint8_t *rxbuf_lend(rxbuf *rx, size_t *len);

/* For on_data: takes len bytes, in place when data is the last loan (the
 * env read into it), else copied. Dropped after an error. */
void rxbuf_received(rxbuf *rx, const uint8_t *data, size_t len);

/* The next complete frame, in order: 1 with *frame / *len (the bytes after
 * the size prefix, borrowed, see the top), 0 when more bytes are needed,
 * -1 when the next size prefix is out of range (then always; see
 * rxbuf_error). Frames before a bad prefix still come out first. */
int rxbuf_next(rxbuf *rx, const uint8_t **frame, size_t *len)
    __attribute__((warn_unused_result));

/* Bytes received and not yet returned as frames (for back pressure). */
size_t rxbuf_buffered_bytes(const rxbuf *rx);

/* After -1: a message naming the size and the bounds; "" otherwise. */
const char *rxbuf_error(const rxbuf *rx);

/* Bytes received that had to be copied (not read in place), for tests
 * and metrics. */
uint64_t rxbuf_copied_bytes(const rxbuf *rx);

#endif
