/*
 * Network addresses: the listen address, CIDR lists for trusted_proxies,
 * and the choice of the client address from the TCP peer and
 * X-Forwarded-For / X-Real-IP (SPEC section 3).  A client that is not a
 * trusted proxy can never choose its address by header.
 */
#ifndef PA_NETADDR_H
#define PA_NETADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "error.h"

#define PA_ADDR_MAX 46	/* INET6_ADDRSTRLEN */

struct pa_cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

struct pa_cidr_list {
	size_t n;
	struct pa_cidr *v;
};

/* Parses "host:port" or "[v6]:port" with a numeric address.  0 or -1. */
int pa_sockaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len,
		      struct pa_error *err);

/* Parses a comma list of addresses or CIDRs ("10.0.0.0/8, ::1").  Returns 0
 * or -1 with err set; out must be freed with pa_cidr_list_free(). */
int pa_cidr_list_parse(const char *list, struct pa_cidr_list *out, struct pa_error *err);
void pa_cidr_list_free(struct pa_cidr_list *l);

/* True when the address (text form) parses and lies in one of the ranges. */
bool pa_cidr_list_match_text(const struct pa_cidr_list *l, const char *addr, size_t len);

/*
 * Chooses the client address.  peer is the TCP peer in text form.  When it
 * is trusted, the right-most untrusted entry of xff (else x_real_ip) is
 * taken.  An entry may be an address, "IPv4:port" or "[IPv6]:port"; one
 * that is none of these ("unknown", "_hidden", garbage) ends the walk and
 * becomes a label of its own ("xff:unknown", or "xff:#" and a hash), which
 * is never an address and never the trusted proxy's.  Writes the address
 * or label to out[PA_ADDR_MAX].
 */
void pa_client_address(const struct pa_cidr_list *trusted, const char *peer,
		       const char *xff, size_t xff_len, const char *x_real_ip,
		       size_t x_real_ip_len, char *out);

/* Text form of a socket address (IPv4-mapped IPv6 shown as IPv4). */
void pa_sockaddr_text(const struct sockaddr *sa, char *out);

#endif
