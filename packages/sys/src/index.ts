export { findBinary, isRoot } from './host.js';
export { SysError } from './native.js';
export { makedev, mknod, splitDev } from './node.js';
export { connectSeqpacket, SeqpacketSocket } from './seqpacket.js';
export { lgetxattr, llistxattr, lsetxattr } from './xattr.js';
