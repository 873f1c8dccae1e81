/* vrouterctl top: the live terminal view (docs/CONTROL.md, "top"). */
#ifndef VROUTERCTL_TOP_H
#define VROUTERCTL_TOP_H

/* Runs the view against the control socket at sock until q or ^C (a
 * terminal), or prints one frame (stdout not a terminal). Returns the exit
 * status: 0, or 1 when the daemon cannot be reached or answers an error. */
int vrouterctl_top(const char *sock);

#endif
