"""Generated protobuf and gRPC modules (see scripts/gen_proto.py). Do not edit."""
