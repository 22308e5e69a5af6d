/* trun-peercred.node: the one thing the warm server needs that Node.js lacks, SO_PEERCRED of a
 * connected unix socket (who is on the other end, as the kernel recorded it at connect(2)).
 * peerCred(fd) returns { pid, uid, gid } or throws the errno's text. Built against Node-API only. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <node_api.h>

static napi_value peer_cred(napi_env env, napi_callback_info info)
{
	size_t argc = 1;
	napi_value argv[1], out, v;
	int32_t fd = -1;
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
	    napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
		napi_throw_type_error(env, NULL, "peerCred(fd): fd must be a number");
		return NULL;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		napi_throw_error(env, NULL, strerror(errno));
		return NULL;
	}
	napi_create_object(env, &out);
	napi_create_int32(env, cr.pid, &v);
	napi_set_named_property(env, out, "pid", v);
	napi_create_uint32(env, cr.uid, &v);
	napi_set_named_property(env, out, "uid", v);
	napi_create_uint32(env, cr.gid, &v);
	napi_set_named_property(env, out, "gid", v);
	return out;
}

NAPI_MODULE_INIT()
{
	napi_value fn;
	napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, peer_cred, NULL, &fn);
	napi_set_named_property(env, exports, "peerCred", fn);
	return exports;
}
