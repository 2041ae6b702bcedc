/* The Kubernetes API server's validation details, verbatim (K8S-DNS.md 3.2;
 * the double space in "'my-name',  or" is the API's). Tests compare the
 * library's messages against these, written once. */
#ifndef XS_TEST_API_MESSAGES_H
#define XS_TEST_API_MESSAGES_H

#define DNS1035                                                                \
  "a DNS-1035 label must consist of lower case alphanumeric characters or "    \
  "'-', start with an alphabetic character, and end with an alphanumeric "     \
  "character (e.g. 'my-name',  or 'abc-123', regex used for validation is "    \
  "'[a-z]([-a-z0-9]*[a-z0-9])?')"
#define DNS1123_LABEL                                                          \
  "a lowercase RFC 1123 label must consist of lower case alphanumeric "        \
  "characters or '-', and must start and end with an alphanumeric character "  \
  "(e.g. 'my-name',  or '123-abc', regex used for validation is "              \
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
#define SUBDOMAIN                                                              \
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "    \
  "characters, '-' or '.', and must start and end with an alphanumeric "       \
  "character (e.g. 'example.com', regex used for validation is "               \
  "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"

#endif
