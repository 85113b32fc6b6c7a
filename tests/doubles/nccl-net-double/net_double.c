/*
 * net_double.c -- TEST DOUBLE, not a NCCL network plugin: an empty library whose file name
 * (libnccl-net-double.so) has the "libnccl-net" prefix of NCCL net plugins, so that the NCCL
 * double can load it the way NCCL loads aws-ofi-nccl (NCCL_NET_PLUGIN) and the product's
 * "which net plugin was loaded" report can be tested. It has no plugin entry points.
 */
const char efa_test_net_double_name[] = "nccl-net-double";
