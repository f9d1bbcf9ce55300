from support.servers import *  # noqa: F403
