"""The gallery's read model (issue 15): what the HTTP gateway's public reads answer, composed from the store, the
rarity service and the market on behalf of a principal (anonymous: public worlds only). Pure of HTTP."""

from multiverse.gallery.cards import Detail, Distribution, NeighborCard, Page, VectorCard, vector_url
from multiverse.gallery.gallery import PUBLIC, Gallery

__all__ = ["PUBLIC", "Detail", "Distribution", "Gallery", "NeighborCard", "Page", "VectorCard", "vector_url"]
