/* notify.h - tell a service manager (systemd Type=notify) that ovld is up or
 * going down, without linking libsystemd: one datagram to $NOTIFY_SOCKET. */
#ifndef OVLD_NOTIFY_H
#define OVLD_NOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. Returns 0
 * when sent or when NOTIFY_SOCKET is unset (not run by a service manager),
 * -1 on a malformed socket path or a failed send. */
int notify_send(const char *state);

/* "READY=1": call once the client API accepts requests. */
int notify_ready(void);

/* "STOPPING=1": call when a graceful shutdown begins. */
int notify_stopping(void);

#endif
