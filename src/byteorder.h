/* byteorder.h - fixed-width integers to and from bytes in a stated order,
 * for every format ovld reads or writes byte by byte: the store's records
 * and snapshots (little-endian), its keys (big-endian, so they sort),
 * libraft's segment files, the forwarded-batch frames and msgpack headers
 * (big-endian), and Docker's ID bitmaps in the overlay model. Inline, one load
 * or store each (they run per record, and per 8 bytes in a checksum); the
 * pointer need not be aligned. */
#ifndef OVLD_BYTEORDER_H
#define OVLD_BYTEORDER_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t get_be16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return be16toh(v);
}

static inline uint32_t get_be32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}

static inline void put_be32(void *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static inline uint64_t get_be64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return be64toh(v);
}

static inline void put_be64(void *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static inline uint32_t get_le32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

static inline void put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static inline uint64_t get_le64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline void put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

#endif
