"""Live order status: the Server-Sent Events stream and its browser tickets."""
