/*
 * address.c - listener and client addresses: made, parsed, printed, and
 * turned into socket addresses.
 *
 * Python tells the family from the address's type: a tuple is AF_INET, a
 * str AF_UNIX, one starting with NUL an abstract AF_UNIX name.  C has one
 * string type, so mp_address_parse() reads the shape instead ("host:port",
 * "[v6]:port", "@name", a path), and the constructors say it outright.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* sun_path holds 108 bytes: a path and its NUL, or NUL and a name. */
#define UNIX_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

int mp_address_inet(mp_address_t *a, int family, const char *host,
                    uint16_t port)
{
	if (!a || (family && family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (!host)
		host = "";
	size_t n = strlen(host);
	if (n >= MP_ADDRESS_MAX)
		return -ENAMETOOLONG;
	memset(a, 0, sizeof(*a));
	a->family = family ? family : strchr(host, ':') ? AF_INET6 : AF_INET;
	a->port = port;
	memcpy(a->name, host, n);
	return 0;
}

int mp_address_unix(mp_address_t *a, const char *path)
{
	if (!a || !path || !*path)
		return -EINVAL;
	size_t n = strlen(path);
	if (n > UNIX_MAX - 1)
		return -ENAMETOOLONG;
	memset(a, 0, sizeof(*a));
	a->family = AF_UNIX;
	a->len = (uint16_t)n;
	memcpy(a->name, path, n);
	return 0;
}

int mp_address_abstract(mp_address_t *a, const void *name, size_t len)
{
	if (!a || (!name && len))
		return -EINVAL;
	if (len > UNIX_MAX)
		return -ENAMETOOLONG;
	memset(a, 0, sizeof(*a));
	a->family = AF_UNIX;
	a->len = (uint16_t)(len + 1); /* the leading NUL */
	if (len)
		memcpy(a->name + 1, name, len);
	return 0;
}

/* "host:port" or "[host]:port": 1 and *a set, 0 when text is not of that
 * shape, -EINVAL for a port out of range. */
static int parse_inet(mp_address_t *a, const char *text)
{
	const char *colon = strrchr(text, ':'), *host = text;
	size_t hlen = colon ? (size_t)(colon - text) : 0;
	char buf[MP_ADDRESS_MAX];

	if (!colon || hlen == 0 || strchr(text, '/') || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return 0;
	if (text[0] == '[') {
		if (text[hlen - 1] != ']' || hlen < 3)
			return 0;
		host++;
		hlen -= 2;
	} else if (memchr(text, ':', hlen)) {
		return 0; /* a bare IPv6 address needs its brackets */
	}
	if (strlen(colon + 1) > 5 || atol(colon + 1) > 65535)
		return -EINVAL;
	if (hlen >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, host, hlen);
	buf[hlen] = 0;
	int r = mp_address_inet(a, 0, buf, (uint16_t)atol(colon + 1));
	return r < 0 ? r : 1;
}

int mp_address_parse(mp_address_t *a, const char *text)
{
	if (!a || !text || !*text)
		return -EINVAL;
	if (text[0] == '@')
		return mp_address_abstract(a, text + 1, strlen(text + 1));
	int r = parse_inet(a, text);
	if (r != 0)
		return r < 0 ? r : 0;
	return mp_address_unix(a, text);
}

/* Append s to buf like snprintf would: count everything, store what fits. */
static void put(char *buf, size_t size, size_t *n, const char *s)
{
	for (; *s; s++, (*n)++)
		if (*n + 1 < size)
			buf[*n] = *s;
}

static int format_abstract(const mp_address_t *a, char *buf, size_t size)
{
	size_t n = 0;

	put(buf, size, &n, "@");
	for (size_t i = 1; i < a->len; i++) {
		unsigned char ch = (unsigned char)a->name[i];
		char esc[5];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			snprintf(esc, sizeof(esc), "%c", ch);
		else
			snprintf(esc, sizeof(esc), "\\x%02x", ch);
		put(buf, size, &n, esc);
	}
	if (size)
		buf[n < size ? n : size - 1] = 0;
	return (int)n;
}

int mp_address_format(const mp_address_t *a, char *buf, size_t size)
{
	if (!a || (!buf && size))
		return -EINVAL;
	switch (a->family) {
	case AF_INET:
		return snprintf(buf, size, "%s:%u", a->name, a->port);
	case AF_INET6:
		return snprintf(buf, size, "[%s]:%u", a->name, a->port);
	case AF_UNIX:
		if (a->len > 0 && a->name[0] == 0)
			return format_abstract(a, buf, size);
		return snprintf(buf, size, "%.*s", (int)a->len, a->name);
	default:
		return -EINVAL;
	}
}

/* ---- to and from socket addresses ---------------------------------------- */

static int gai_errno(int e)
{
	switch (e) {
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
	case EAI_ADDRFAMILY:
		return -ENXIO;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EINVAL;
	}
}

/* The host of an Internet address into sa (port left 0). */
static int resolve(const mp_address_t *a, struct sockaddr_storage *ss)
{
	void *dst = a->family == AF_INET
	            ? (void *)&((struct sockaddr_in *)ss)->sin_addr
	            : (void *)&((struct sockaddr_in6 *)ss)->sin6_addr;

	ss->ss_family = (sa_family_t)a->family;
	if (!a->name[0])
		return 0; /* all interfaces: the zero address */
	if (inet_pton(a->family, a->name, dst) == 1)
		return 0;
	struct addrinfo hints = { .ai_family = a->family,
	                          .ai_socktype = SOCK_STREAM }, *res;
	int e = getaddrinfo(a->name, NULL, &hints, &res);
	if (e != 0)
		return gai_errno(e);
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int mp__address_to_sockaddr(const mp_address_t *a, struct sockaddr_storage *ss,
                            socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_UNIX) {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		if (a->len == 0 || a->len > UNIX_MAX)
			return -EINVAL;
		un->sun_family = AF_UNIX;
		memcpy(un->sun_path, a->name, a->len);
		/* A path's length counts its NUL; an abstract name's not. */
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		                   a->len + (a->name[0] != 0));
		return 0;
	}
	if (a->family != AF_INET && a->family != AF_INET6)
		return -EINVAL;
	int r = resolve(a, ss);
	if (r < 0)
		return r;
	if (a->family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_port = htons(a->port);
		*len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)ss)->sin6_port = htons(a->port);
		*len = sizeof(struct sockaddr_in6);
	}
	return 0;
}

void mp__address_from_sockaddr(const struct sockaddr_storage *ss,
                               socklen_t len, mp_address_t *a)
{
	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, a->name, sizeof(a->name));
		a->port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, a->name, sizeof(a->name));
		a->port = ntohs(in6->sin6_port);
	} else if (ss->ss_family == AF_UNIX) {
		const struct sockaddr_un *un = (const void *)ss;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = len > off ? len - off : 0;
		if (n > UNIX_MAX + 1)
			n = UNIX_MAX + 1;
		/* A path's reported length may include its NUL. */
		if (n > 0 && un->sun_path[0] != 0)
			n = strnlen(un->sun_path, n);
		memcpy(a->name, un->sun_path, n);
		a->len = (uint16_t)n;
	}
}
