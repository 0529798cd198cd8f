"""SNS consultations: chats on LINE and the web, routed and handed off like calls."""
