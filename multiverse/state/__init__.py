"""The state file: one snapshot's frames, player vectors, players and guidance texts as safetensors.

``format`` (encode and decode, the header and metadata), ``validate`` (a streamed state against its latent space),
``players`` (the players' and guidance texts' schema), ``spaces`` (latent spaces' dtypes and rules), ``limits``
(the caps a state obeys), ``read`` (a stored state from the blob store), ``vectors`` (each vector's canonical
bytes and sha256), ``synth`` (valid synthetic states). Modules are imported by name; this package's ``__init__``
imports nothing, so reading one never drags in the rest.
"""
