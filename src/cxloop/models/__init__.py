"""All ORM models, one module per aggregate; importing this package registers every table."""

from cxloop.models.base import Base
from cxloop.models.care import (
    CareInbox,
    CareMailbox,
    CareTeamHours,
    Conversation,
    ConversationMessage,
    SlaPolicy,
)
from cxloop.models.care_agents import CareAgent, CareRouting, ConversationRoute
from cxloop.models.care_csat import CsatRequest
from cxloop.models.care_followers import ConversationFollower
from cxloop.models.care_intake import CareWebhookEvent, InboundMailReceipt, TalkTalkThread
from cxloop.models.care_replies import (
    CannedReply,
    ConversationAttachment,
    ConversationMention,
    Macro,
)
from cxloop.models.channels import OutboundMessage
from cxloop.models.commerce import Order, OrderItem, Product
from cxloop.models.customer import ConsentRecord, Customer, CustomerMerge, Identity
from cxloop.models.event import BusCheckpoint, Event
from cxloop.models.feedback import (
    FollowUp,
    FollowUpDigest,
    Improvement,
    ImprovementLink,
    Invitation,
    Response,
    Survey,
    SurveyVersion,
)
from cxloop.models.help import (
    HelpArticle,
    HelpArticleRevision,
    HelpArticleVersion,
    HelpArticleVote,
    HelpBotSettings,
    HelpBotTurn,
)
from cxloop.models.insights import (
    CustomerPrediction,
    InsightsModelFit,
    InsightsRun,
    Segment,
    SegmentCount,
    SegmentMember,
)
from cxloop.models.journeys import JourneyStage, JourneyTouchpoint, SavedFunnel
from cxloop.models.loyalty import (
    EarningRule,
    LedgerAllocation,
    LedgerEntry,
    LoyaltyMember,
    LoyaltyProgram,
    LoyaltyTier,
    TierChange,
)
from cxloop.models.text import (
    TextAnalysis,
    TextAnalysisCategory,
    TextCategory,
    TextCorrection,
    TextModelRun,
    TextTheme,
)
from cxloop.models.workspace import (
    ApiKey,
    AuditEntry,
    LoginAttempt,
    MemberInvitation,
    Membership,
    Notification,
    User,
    Workspace,
)

__all__ = [
    "ApiKey",
    "AuditEntry",
    "Base",
    "BusCheckpoint",
    "CannedReply",
    "CareAgent",
    "CareInbox",
    "CareMailbox",
    "CareRouting",
    "CareTeamHours",
    "CareWebhookEvent",
    "ConsentRecord",
    "Conversation",
    "ConversationAttachment",
    "ConversationFollower",
    "ConversationMention",
    "ConversationMessage",
    "ConversationRoute",
    "CsatRequest",
    "Customer",
    "CustomerMerge",
    "CustomerPrediction",
    "EarningRule",
    "Event",
    "FollowUp",
    "FollowUpDigest",
    "HelpArticle",
    "HelpArticleRevision",
    "HelpArticleVersion",
    "HelpArticleVote",
    "HelpBotSettings",
    "HelpBotTurn",
    "Identity",
    "Improvement",
    "ImprovementLink",
    "InboundMailReceipt",
    "InsightsModelFit",
    "InsightsRun",
    "Invitation",
    "JourneyStage",
    "JourneyTouchpoint",
    "LedgerAllocation",
    "LedgerEntry",
    "LoginAttempt",
    "LoyaltyMember",
    "LoyaltyProgram",
    "LoyaltyTier",
    "Macro",
    "MemberInvitation",
    "Membership",
    "Notification",
    "Order",
    "OrderItem",
    "OutboundMessage",
    "Product",
    "Response",
    "SavedFunnel",
    "Segment",
    "SegmentCount",
    "SegmentMember",
    "SlaPolicy",
    "Survey",
    "SurveyVersion",
    "TalkTalkThread",
    "TextAnalysis",
    "TextAnalysisCategory",
    "TextCategory",
    "TextCorrection",
    "TextModelRun",
    "TextTheme",
    "TierChange",
    "User",
    "Workspace",
]
