"""Special functions under TF's names: lgamma, digamma, erf, erfc, erfinv, ndtri, the Bessel
functions of tf.math / tf.math.special (bessel_i0, i0e, i1, i1e, j0, j1, y0, y1, k0, k0e, k1,
k1e) and tf.math.special's dawsn, expint, fresnel_cos, fresnel_sin and spence, with TF's
gradients.

Where they run: a GPU tensor goes through one elementwise CUDA kernel family
(csrc/cuda/special.cu, `backend().special(op, x)`), with no copy to the host; a CPU tensor is
computed here in float64 NumPy and rounded to its dtype. SciPy is not used (it is only the
tests' reference).

The CPU algorithms (special.cu uses the same tables for I and K; CUDA's own j0/j1/y0/y1,
lgamma, erf, erfinv, normcdfinv for the rest):
  * Bessel I0, I1 (and the scaled e^-|x| I): a Chebyshev series of e^-x I0(x) and e^-x I1(x)/x
    on [0, 8] (in t = x/4 - 1), and of sqrt(x) e^-x I(x) on [8, inf) (in t = 16/x - 1).
  * K0, K1: on (0, 2], K0 + log(x/2) I0 and x K1 - x log(x/2) I1 are entire in x^2: Chebyshev
    series in t = x^2/2 - 1; on (2, inf), sqrt(x) e^x K as a series in t = 4/x - 1.
  * J0, J1, Y0, Y1: on [0, 8], J0, J1/x, Y0 - (2/pi) log(x) J0 and
    (Y1 - (2/pi) log(x) J1 + 2/(pi x))/x are entire in x^2: series in t = x^2/32 - 1; beyond,
    Hankel's form J = sqrt(2/(pi x)) (P cos xn - Q sin xn), Y = sqrt(2/(pi x)) (P sin xn +
    Q cos xn), xn = x - (2 nu + 1) pi / 4, with P and Q/u series in t = 2u^2 - 1, u = 8/x
    (cos xn and sin xn from cos x and sin x, so no rounding of pi/4 enters).
  * dawsn: F(x)/x as a series in t = x^2/8 - 1 on [0, 4]; x F(x) in t = 32/x^2 - 1 beyond.
  * expint (Ei): (Ei(x) - gamma - log x)/x in t = x/3 - 1 on (0, 6]; x e^-x Ei(x) in
    t = (x - 15)/9 on (6, 24] and in t = 48/x - 1 beyond.
  * fresnel_cos/sin: C(x)/x and S(x)/x^3 in t = 2 x^4 / 2.5^4 - 1 on [0, 2.5]; beyond,
    C = 1/2 + f sin(pi x^2/2) - g cos(pi x^2/2), S = 1/2 - f cos - g sin with x f and x^3 g in
    t = 12.5/x^2 - 1; the phase from x^2 = hi + lo exactly, hi/2 reduced mod 2 exactly.
  * spence (Li2(1 - x)): spence(x)/(1 - x) as a series in t = (4x - 5)/3 on [1/2, 2] (so
    spence(1) = 0 exactly); below, the reflection pi^2/6 - log(x) log(1 - x) - spence(1 - x);
    above, -spence(1/x) - log(x)^2/2.
  The coefficients are ours: Chebyshev interpolation at 20 to 60 Chebyshev nodes of the
  functions above evaluated by mpmath at 40 digits, cut where they fall below 2e-18 of the
  largest (tools/special_coeffs.py). Accuracy: a few float64 ulp, except in absolute terms
  (~1e-16) near the zeros of J and Y.
  * digamma / trigamma: reflection below 1/2, the recurrence up to 10, the asymptotic series
    to the B14 term.
  * erfinv: Halley steps on erf from the Maclaurin series for |y| < 1/2; beyond, through ndtri
    of the tail probability (1 - |y|)/2, which is exact there. ndtri: sqrt(2) erfinv(2p - 1) for
    p in (1/4, 3/4) (2p - 1 exact); in the tails the Abramowitz-Stegun 26.2.23 start, then
    Newton steps on log Phi(x) = log q, Phi(x) = erfc(-x/sqrt 2)/2.
"""
import math as _math
import sys as _sys
import types as _types

import numpy as np

from ..framework.device import DeviceArray, backend
from ._common import _tapes, _wrap, record, t_
from . import array_ops as _a
from . import math_ops as _m

# ------------------------------------------------------------------------- Chebyshev tables
_I0_SMALL = np.array([
    0.33839763720473803, -0.3046826723431984, 0.17162090152220877, -0.09490109704804764,
    0.04930528423967071, -0.02373741480589947, 0.010546460394594998, -0.004324309995050576,
    0.0016394756169413357, -0.0005763755745385824, 0.00018850288509584165,
    -5.754195010082104e-05, 1.6448448070728896e-05, -4.4167383584587505e-06,
    1.1173875391201037e-06, -2.670793853940612e-07, 6.046995022541919e-08,
    -1.300025009986248e-08, 2.6598237246823866e-09, -5.189795601635263e-10,
    9.675809035373237e-11, -1.726826291441556e-11, 2.95505266312964e-12, -4.856446783111929e-13,
    7.676185498604936e-14, -1.1685332877993451e-14, 1.715391285555133e-15,
    -2.431279846547955e-16, 3.3307945188222384e-17, -4.4153416464793395e-18
])
_I0_LARGE = np.array([
    0.4022452055070544, 0.0033691164782556943, 6.889758346916825e-05, 2.8913705208347567e-06,
    2.0489185894690638e-07, 2.266668990498178e-08, 3.3962320257083865e-09, 4.94060238822497e-10,
    1.1889147107846439e-11, -3.1499165279632416e-11, -1.3215811840447713e-11,
    -1.7941785315068062e-12, 7.180124451383666e-13, 3.8527783827421426e-13,
    1.54008621752141e-14, -4.150569347287222e-14, -9.554846698828307e-15, 3.811680669352621e-15,
    1.7725601330565245e-15, -3.425485619677142e-16, -2.827623980516646e-16,
    3.461222867695658e-17, 4.465621420302078e-17, -4.8305044859640105e-18,
    -7.233180488043844e-18, 9.921475415657038e-19, 1.1936508909418693e-18
])
_I1_SMALL = np.array([
    0.12629359322181682, -0.17641651835783406, 0.1026436586898471, -0.05294598120809499,
    0.024726449030626516, -0.010564084894626197, 0.004156422944312888, -0.0015135724506312532,
    0.0005122859561685758, -0.00016176081582589674, 4.781565107550054e-05,
    -1.3273163656039436e-05, 3.4702513081376785e-06, -8.568720264695455e-07,
    2.0032947535521353e-07, -4.445059128796328e-08, 9.381537386495773e-09,
    -1.8872497517228294e-09, 3.625590281552117e-10, -6.663489723502027e-11,
    1.1736186298890901e-11, -1.9839743977649436e-12, 3.223793365945575e-13,
    -5.042185504727912e-14, 7.600684294735408e-15, -1.1055969477353862e-15,
    1.5536319577362005e-16, -2.111421214358166e-17, 2.7779141127610464e-18,
    -3.541581772542136e-19
])
_I1_LARGE = np.array([
    0.38928811750914005, -0.009761097491361469, -0.00011058893876262371, -3.882564808877691e-06,
    -2.512236237870209e-07, -2.6314688468895196e-08, -3.835380385964237e-09,
    -5.589743462196584e-10, -1.8974958123505413e-11, 3.2526035830154884e-11,
    1.4125807436613782e-11, 2.0356285441470896e-12, -7.198551776245908e-13,
    -4.0835511110921974e-13, -2.1015418427726643e-14, 4.2724400167119517e-14,
    1.0420276984128802e-14, -3.814403072437007e-15, -1.8803547755107805e-15,
    3.30820231092085e-16, 2.9626289976460157e-16, -3.209525921991637e-17,
    -4.6503053684947827e-17, 4.414348323093937e-18, 7.517296311011398e-18,
    -9.314178870907263e-19, -1.2421932752759928e-18
])
_K0_SMALL = np.array([
    -0.2676636966169514, 0.3442898999246285, 0.0359799365153615, 0.001264615411446926,
    2.286212103119452e-05, 2.5347910790261494e-07, 1.904516377220209e-09,
    1.0349695257633625e-11, 4.2598161427910826e-14, 1.3744654358807508e-16
])
_K0_LARGE = np.array([
    1.2201515410329777, -0.0314481013119645, 0.0015698838857300533, -0.00012849549581627802,
    1.39498137188765e-05, -1.8317555227191195e-06, 2.766813639445015e-07,
    -4.660489897687948e-08, 8.574034017414225e-09, -1.6975345093890614e-09,
    3.5773972814003283e-10, -7.957489244477396e-11, 1.8559491149549264e-11,
    -4.514597883374519e-12, 1.1403405882073441e-12, -2.9800969231481784e-13,
    8.032890775068375e-14, -2.2275133267462965e-14, 6.340076476276646e-15,
    -1.848593377920907e-15, 5.5120559994043335e-16, -1.6782311257549003e-16,
    5.210391777643549e-17, -1.6475805939842515e-17, 5.300433771177066e-18
])
_K1_SMALL = np.array([
    0.7626501136694739, -0.3531559607765449, -0.12261118082265715, -0.006975723859639864,
    -0.0001730288957513052, -2.4334061415659684e-06, -2.213387630734726e-08,
    -1.4114883926335278e-10, -6.666901694199329e-13, -2.427449850519366e-15,
    -7.023863479386288e-18
])
_K1_LARGE = np.array([
    1.3603130952422213, 0.10392373657681724, -0.002857816859622779, 0.00019521551847135162,
    -1.936197974166083e-05, 2.406484947837217e-06, -3.5019606030878126e-07,
    5.7410841254500495e-08, -1.0345762465678097e-08, 2.0150497551970347e-09,
    -4.1903547593419254e-10, 9.218315187605315e-11, -2.129967838427791e-11,
    5.139639673482343e-12, -1.2891739609498229e-12, 3.348419666052243e-13,
    -8.976705182010146e-14, 2.4771544242195988e-14, -7.0198370892147685e-15,
    2.038703166239861e-15, -6.057047270643018e-16, 1.8380935752430452e-16,
    -5.689462849193643e-17, 1.7940510478863452e-17, -5.75674448207302e-18
])
_J0_SMALL = np.array([
    0.15772797147489012, -0.008723442352852221, 0.2651786132033368, -0.37009499387264977,
    0.15806710233209725, -0.034893769411408884, 0.004819180069467605, -0.00046062616620627504,
    3.246032882100508e-05, -1.7619469077621507e-06, 7.608163592418782e-08,
    -2.679253530557673e-09, 7.848696314479465e-11, -1.9438346867370164e-12,
    4.125320595634374e-14, -7.588508125447546e-16, 1.2218515873961411e-17
])
_J1_SMALL = np.array([
    0.08104484632565812, -0.1489751450676521, 0.1609992623572097, -0.08268049176681791,
    0.022213639654966037, -0.003646940600769276, 0.0004050337728354822, -3.255554866857259e-05,
    1.9858774049915165e-06, -9.521984756750436e-08, 3.687133759097148e-09,
    -1.178026622695885e-10, 3.160154580348003e-12, -7.221755239651773e-14,
    1.4232144003513942e-15, -2.4441972916190464e-17, 3.6912682997929334e-19
])
_Y0_SMALL = np.array([
    -0.03314611320328494, -0.2744743055297453, 0.17903431407718265, 0.26156734625504663,
    -0.17730201278114358, 0.04719668959576339, -0.007287962479552079, 0.0007531135932577742,
    -5.632079141056987e-05, 3.206532537654801e-06, -1.44072332740187e-07, 5.248794787330516e-09,
    -1.5837552541812015e-10, 4.02633081830612e-12, -8.747341203310769e-14,
    1.6434898714919468e-15, -2.6977881152566837e-17
])
_Y1_SMALL = np.array([
    0.0025380132357417816, -0.01608717304766875, -0.09591204536083074, 0.08445197259652346,
    -0.028328123944594365, 0.005289897544167113, -0.0006414551451326356, 5.505982873338744e-05,
    -3.53808001868935e-06, 1.7707804556154404e-07, -7.11055004989928e-09, 2.344337905911516e-10,
    -6.4651518414115946e-12, 1.51429151205002e-13, -3.0511859694473254e-15,
    5.34668038572867e-17, -8.224911372021585e-19
])
_P0_LARGE = np.array([
    0.9994603493475187, -0.0005365220468132117, 3.0751847875194745e-06, -5.1705945376060975e-08,
    1.6306464635151382e-09, -7.86409137723707e-11, 5.168262387349193e-12,
    -4.3045788699253914e-13, 4.3265957431549404e-14, -5.069034095935236e-15,
    6.748072215733873e-16, -1.0011513723467786e-16, 1.6305919233744186e-17,
    -2.880866169482871e-18
])
_Q0_LARGE = np.array([
    -0.015555854605337009, 6.838519942611649e-05, -7.414498411060647e-07,
    1.7972457247968992e-08, -7.27191593686632e-10, 4.2201219046687385e-11,
    -3.206747420996635e-12, 3.006145125351706e-13, -3.336328185322427e-14,
    4.255225040245461e-15, -6.09993013164005e-16, 9.662128970303257e-17,
    -1.6686065214378146e-17, 3.1082440486738143e-18, -6.191115787358143e-19,
    1.3091448717220062e-19
])
_P1_LARGE = np.array([
    1.0009030408600137, 0.0008989898330859408, -3.987284300488908e-06, 6.177633960644299e-08,
    -1.8718907491063067e-09, 8.816898659582339e-11, -5.704863640395645e-12,
    4.699195515230542e-13, -4.6842237839904895e-14, 5.452674896044717e-15,
    -7.221180842274018e-16, 1.0667689114335412e-16, -1.7312313216116335e-17,
    3.0492991197665872e-18
])
_Q1_LARGE = np.array([
    0.04677778706953532, -9.62772354915708e-05, 9.138615257955454e-07, -2.0959781384083424e-08,
    8.229193327650554e-10, -4.686363688176945e-11, 3.5152187949686082e-12, -3.2643156743279e-13,
    3.5967765829165294e-14, -4.5612523950772974e-15, 6.508282957783384e-16,
    -1.0269147531823243e-16, 1.767635548776479e-17, -3.2834519872981614e-18,
    6.524081149589258e-19, -1.3765771484849427e-19
])

_DAWSN_SMALL = np.array([
    0.22155672794739223, -0.3181134699616813, 0.20873845413642236, -0.12475409913779131,
    0.06786930518667678, -0.03365914489527094, 0.015260781271987971, -0.006348370962596214,
    0.002432674092074852, -0.0008621954149106503, 0.00028376573336321624,
    -8.705754987417042e-05, 2.4986849985481658e-05, -6.73192867641603e-06,
    1.7078578785573543e-06, -4.091755122647538e-07, 9.282829221675577e-08,
    -1.9991403610147617e-08, 4.096349064408219e-09, -8.003240954099317e-10,
    1.4938503128761465e-10, -2.668799988562233e-11, 4.571221698515946e-12,
    -7.518730522204356e-13, 1.1893100052629682e-13, -1.8116907933852348e-14,
    2.661173368435897e-15, -3.773886305212942e-16, 5.1727953789087173e-17,
    -6.86036840840775e-18, 8.812375135416107e-19
])
_DAWSN_LARGE = np.array([
    0.5084524281888285, 0.008683252278406958, 0.00024248640424177155, 1.26118239957269e-05,
    1.066453314636177e-06, 1.3581597947907276e-07, 2.1710423565772983e-08,
    2.8670105018052954e-09, -1.90133639303582e-10, -3.097780484395201e-10,
    -1.0294148760575092e-10, -6.260356459459576e-12, 8.563132497446451e-12,
    3.033045148075659e-12, -2.523618306809291e-13, -4.2106047954406646e-13,
    -4.4311408266462385e-14, 4.911210272841205e-14, 1.2358562422839034e-14,
    -5.78873319901657e-15, -2.2827232948073585e-15, 7.637149411014127e-16,
    3.8515468835668115e-16, -1.1999320569282906e-16, -6.313439150094573e-17,
    2.2395599659729752e-17, 9.987925830076495e-18, -4.6810682743224955e-18,
    -1.4363036443497213e-18, 1.0208227314105412e-18
])
_EI_SMALL = np.array([
    4.9111058843464575, 5.666113598608016, 2.3492626676137034, 0.7563543093844007,
    0.19920229382356897, 0.04442875265306707, 0.008598716638276844, 0.0014705025963922846,
    0.00022533301939463562, 3.1284662784803325e-05, 3.9711039220839795e-06,
    4.643268488593228e-07, 5.032918336954619e-08, 5.084550545442788e-09, 4.810144028835289e-10,
    4.278742020424449e-11, 3.5916634036991113e-12, 2.8542399260415613e-13,
    2.1535115484481425e-14, 1.5466334313866187e-15, 1.0598041657122702e-16
])
_EI_MID = np.array([
    1.1136907755039973, -0.09727423627565743, 0.041536476135826436, -0.01712833711347605,
    0.006538885456635689, -0.0021828157263006197, 0.0005695316979201968, -6.97987732381639e-05,
    -3.761974972891094e-05, 3.6676365822396836e-05, -1.9879278350407262e-05,
    8.462025436834638e-06, -3.058032856826224e-06, 9.625105604297806e-07, -2.64431442098986e-07,
    6.201136449582442e-08, -1.1441183163879293e-08, 1.0895559168591834e-09,
    3.2451406158955446e-10, -2.5439921854599444e-10, 1.0883484173803564e-10,
    -3.810885794504467e-11, 1.2007372308646213e-11, -3.549542677271168e-12,
    1.009224803676779e-12, -2.808477471390516e-13, 7.750120121944607e-14,
    -2.141422702746607e-14, 5.963399803872953e-15, -1.6799219034697589e-15,
    4.793890009246776e-16, -1.385458921959587e-16, 4.050604297002463e-17,
    -1.1962802603717267e-17, 3.5637087425715986e-18
])
_EI_LARGE = np.array([
    1.0222957360954668, 0.022812793514753286, 0.0005360936928493524, 2.0034094292122614e-05,
    1.0686092350144287e-06, 7.746060698591084e-08, 7.504513851387549e-09, 9.65386432321799e-10,
    1.5701407029249868e-10, 2.779058341161681e-11, 3.828483997307224e-12,
    -1.9274603059481113e-13, -3.984438522784285e-13, -1.5561943489863476e-13,
    -2.6325433913268538e-14, 5.119012243843834e-15, 4.450825135967824e-15,
    8.977579029888121e-16, -2.2282754984589544e-16, -1.6452081405038015e-16,
    -1.5179371674871094e-17, 1.6736756138129383e-17, 5.4633715506034455e-18
])
_FRESNEL_C_SMALL = np.array([
    0.34000378753284183, -0.21463555314242846, 0.15086068597273897, -0.16275298115965597,
    0.09439188697085799, -0.030258674844348032, 0.006136259345258138, -0.0008630100768587364,
    8.952601506384834e-05, -7.155197218935395e-06, 4.5507060807857273e-07,
    -2.3613846621675632e-08, 1.0198188673971249e-09, -3.7256112709362435e-11,
    1.1669697174334323e-12, -3.170123708177304e-14, 7.542382946843456e-16,
    -1.5850932611248597e-17
])
_FRESNEL_S_SMALL = np.array([
    0.13731418077153454, -0.16960110942188242, 0.11972244946441143, -0.06682747887872158,
    0.02369897694891726, -0.0054552598760263605, 0.0008685834651337593, -0.00010109296316378186,
    8.977617585237801e-06, -6.288000115046214e-07, 3.565188007583185e-08,
    -1.6709016343051067e-09, 6.584983337650556e-11, -2.21355991286889e-12,
    6.423967722207285e-14, -1.6262360081997799e-15, 3.623474949675941e-17,
    -7.162016873195094e-19
])
_FRESNEL_F_LARGE = np.array([
    0.31743302873290796, -0.0011561991163869128, -0.00027015916804105195,
    1.0030008834770164e-05, 7.203845869975034e-07, -1.2466010015146476e-07,
    4.004772705850344e-09, 1.2830025385893208e-09, -2.477532782046496e-10,
    1.245269297366323e-11, 3.8850746455940224e-12, -1.1309061474697511e-12,
    1.240280014458152e-13, 1.0585151742440672e-14, -7.51127287051837e-15, 1.589778032124668e-15,
    -1.1414502417784497e-16, -4.3101537499112113e-17, 1.958629136184026e-17,
    -4.0999118917410515e-18
])
_FRESNEL_G_LARGE = np.array([
    0.09998264807917293, -0.001750816726407006, -0.0003887448968862889, 2.5263518413894673e-05,
    1.3098228682978054e-06, -3.9680207414593156e-07, 2.5661544867565154e-08,
    3.780580096665431e-09, -1.1623710170080418e-09, 1.1090352555748635e-10,
    1.2094539481209405e-11, -6.315720803337883e-12, 1.055762362084097e-12,
    -1.545507467077535e-14, -4.187311758511271e-14, 1.278812250825039e-14,
    -1.7728433108161455e-15, -1.210898508600528e-16, 1.4088988539380612e-16,
    -4.1500419007665904e-17, 6.037451382107641e-18, 4.91110005446847e-19,
    -6.040141417422207e-19, 2.0366476967291444e-19
])
_SPENCE_MID = np.array([
    0.9675321504349846, -0.166073032927855, 0.02487932292422805, -0.004686361959446563,
    0.0010016274961643181, -0.00023200219609439715, 5.681782271827043e-05,
    -1.449630055748866e-05, 3.8163294634370496e-06, -1.029904263768321e-06,
    2.835753845118004e-07, -7.93870546042601e-08, 2.253670464174167e-08, -6.474338180528377e-09,
    1.879117269842973e-09, -5.502909217137956e-10, 1.6242063194272883e-10,
    -4.827376243049472e-11, 1.4436965408227055e-11, -4.341694956486757e-12,
    1.3122768920462888e-12, -3.984478218072319e-13, 1.2148461496311368e-13,
    -3.71810319965586e-14, 1.1419239903992597e-14, -3.518436009778419e-15,
    1.0873099805700257e-15, -3.3694142029317887e-16, 1.0468119638480871e-16,
    -3.2600231500551465e-17, 1.01751854217645e-17, -3.1825264046772017e-18
])

def _cheb(c, t):
    """sum_k c[k] T_k(t) by Clenshaw's recurrence."""
    b1 = np.zeros_like(t)
    b2 = np.zeros_like(t)
    t2 = 2 * t
    for ck in c[:0:-1]:
        b1, b2 = t2 * b1 - b2 + ck, b1
    return t * b1 - b2 + c[0]


# ---------------------------------------------------------------------- float64 NumPy (CPU)
def _i0e_np(x):
    ax = np.abs(x)
    small = ax <= 8
    s = _cheb(_I0_SMALL, np.where(small, ax / 4 - 1, 0.0))
    lg = _cheb(_I0_LARGE, 16 / np.where(small, 16.0, ax) - 1) / np.sqrt(ax)
    return np.where(small, s, lg)


def _i1e_np(x):
    ax = np.abs(x)
    small = ax <= 8
    s = x * _cheb(_I1_SMALL, np.where(small, ax / 4 - 1, 0.0))
    lg = np.sign(x) * _cheb(_I1_LARGE, 16 / np.where(small, 16.0, ax) - 1) / np.sqrt(ax)
    return np.where(small, s, lg)


def _i0_np(x):
    h = np.exp(np.abs(x) / 2)
    return np.where(np.isinf(x), np.inf, _i0e_np(x) * h * h)


def _i1_np(x):
    h = np.exp(np.abs(x) / 2)
    return np.where(np.isinf(x), x, _i1e_np(x) * h * h)


def _k_parts(x, small_tab, large_tab, order):
    """(K, e^x K) for x > 0 on both branches; NaN below 0, +inf at 0."""
    small = x <= 2
    xs = np.where(small, x, 1.0)
    xl = np.where(small, 4.0, x)
    t = xs * xs / 2 - 1
    if order == 0:
        ks = _cheb(small_tab, t) - np.log(xs / 2) * _i0_np(xs)
    else:
        ks = _cheb(small_tab, t) / xs + np.log(xs / 2) * _i1_np(xs)
    kel = _cheb(large_tab, 4 / xl - 1) / np.sqrt(xl)
    k = np.where(small, ks, np.exp(-xl) * kel)
    ke = np.where(small, ks * np.exp(xs), kel)
    bad = np.where(x < 0, np.nan, np.inf)
    edge = x <= 0
    return np.where(edge, bad, k), np.where(edge, bad, ke)


def _k0_np(x):
    return _k_parts(x, _K0_SMALL, _K0_LARGE, 0)[0]


def _k0e_np(x):
    return _k_parts(x, _K0_SMALL, _K0_LARGE, 0)[1]


def _k1_np(x):
    return _k_parts(x, _K1_SMALL, _K1_LARGE, 1)[0]


def _k1e_np(x):
    return _k_parts(x, _K1_SMALL, _K1_LARGE, 1)[1]


_R2 = np.sqrt(0.5)


def _hankel(ax, order):
    """(J, Y) of order 0 or 1 at ax > 8 from the asymptotic P and Q series (0 at inf)."""
    a = np.where(ax <= 8, 8.0, ax)  # (NaN stays NaN)
    u = 8 / a
    t = 2 * u * u - 1
    p = _cheb(_P0_LARGE if order == 0 else _P1_LARGE, t)
    q = u * _cheb(_Q0_LARGE if order == 0 else _Q1_LARGE, t)
    c, s = np.cos(a), np.sin(a)
    if order == 0:  # xn = x - pi/4
        cx, sx = (c + s) * _R2, (s - c) * _R2
    else:           # xn = x - 3 pi/4
        cx, sx = (s - c) * _R2, -(s + c) * _R2
    amp = np.sqrt(2 / (np.pi * a))
    inf = np.isinf(ax)
    return (np.where(inf, 0.0, amp * (p * cx - q * sx)),
            np.where(inf, 0.0, amp * (p * sx + q * cx)))


def _small_t(ax):
    return np.where(ax <= 8, ax * ax / 32 - 1, 0.0)


def _j0_np(x):
    ax = np.abs(x)
    return np.where(ax <= 8, _cheb(_J0_SMALL, _small_t(ax)), _hankel(ax, 0)[0])


def _j1_np(x):
    ax = np.abs(x)
    return np.where(ax <= 8, x * _cheb(_J1_SMALL, _small_t(ax)), np.sign(x) * _hankel(ax, 1)[0])


def _y_edges(x, v):
    return np.where(x < 0, np.nan, np.where(x == 0, -np.inf, v))


def _y0_np(x):
    xs = np.where(x > 0, x, 1.0)
    s = _cheb(_Y0_SMALL, _small_t(xs)) + 2 / np.pi * np.log(xs) * _j0_np(xs)
    return _y_edges(x, np.where(x <= 8, s, _hankel(x, 0)[1]))


def _y1_np(x):
    xs = np.where(x > 0, x, 1.0)
    s = xs * _cheb(_Y1_SMALL, _small_t(xs)) + 2 / np.pi * (np.log(xs) * _j1_np(xs) - 1 / xs)
    return _y_edges(x, np.where(x <= 8, s, _hankel(x, 1)[1]))


# ------------------------------------------------------- Dawson, Ei, Fresnel, Spence (CPU)
def _dawsn_np(x):
    ax = np.abs(x)
    small = ax <= 4
    s = x * _cheb(_DAWSN_SMALL, np.where(small, ax * ax / 8 - 1, 0.0))
    al = np.where(small, 4.0, ax)  # (NaN stays NaN)
    lg = np.sign(x) * _cheb(_DAWSN_LARGE, 32 / (al * al) - 1) / al
    return np.where(small, s, lg)


_EULER = 0.57721566490153286061


def _expint_np(x):
    small = x <= 6
    mid = (x > 6) & (x <= 24)
    xs = np.where(small & (x > 0), x, 1.0)
    es = _EULER + np.log(xs) + xs * _cheb(_EI_SMALL, xs / 3 - 1)
    xm = np.where(mid, x, 15.0)
    xl = np.where(x <= 24, 48.0, x)
    h = np.where(mid, _cheb(_EI_MID, (xm - 15) / 9), _cheb(_EI_LARGE, 48 / xl - 1))
    xb = np.where(mid, xm, xl)
    half = np.exp(xb / 2)
    out = np.where(small, es, h / xb * half * half)
    out = np.where(np.isposinf(x), np.inf, out)
    return np.where(x < 0, np.nan, np.where(x == 0, -np.inf, out))


def _half_pi_square_phase(a):
    """sin and cos of pi a^2 / 2 for a >= 0, with a^2 = hi + lo exactly (Dekker) and hi/2
    reduced mod 2 exactly, so that large a lose no phase to rounding."""
    a = np.minimum(a, 1e150)
    hi = a * a
    c = 134217729.0 * a
    ah = c - (c - a)
    al = a - ah
    lo = ((ah * ah - hi) + 2 * ah * al) + al * al
    r = np.fmod(hi / 2, 2.0) + lo / 2
    return np.sin(np.pi * r), np.cos(np.pi * r)


def _fresnel_np(x, cosine):
    ax = np.abs(x)
    small = ax <= 2.5
    xs = np.where(small, ax, 0.0)
    t = 2 * xs ** 4 / 39.0625 - 1
    s_small = x * _cheb(_FRESNEL_C_SMALL, t) if cosine else x * xs * xs * _cheb(
        _FRESNEL_S_SMALL, t)
    al = np.where(small, 2.5, ax)
    t2 = 12.5 / (al * al) - 1
    f = _cheb(_FRESNEL_F_LARGE, t2) / al
    g = _cheb(_FRESNEL_G_LARGE, t2) / (al * al * al)
    sn, cs = _half_pi_square_phase(np.where(np.isinf(al), 0.0, al))
    v = 0.5 + f * sn - g * cs if cosine else 0.5 - f * cs - g * sn
    v = np.where(np.isinf(ax), 0.5, v)
    return np.where(small, s_small, np.sign(x) * v)


def _fresnel_cos_np(x):
    return _fresnel_np(x, True)


def _fresnel_sin_np(x):
    return _fresnel_np(x, False)


def _spence_np(x):
    """spence(x) = Li2(1 - x): (1 - x) times a series on [1/2, 2]; below, Euler's reflection
    spence(x) = pi^2/6 - log(x) log(1-x) - spence(1-x); above, spence(x) = -spence(1/x)
    - log(x)^2 / 2."""
    lo, hi = x < 0.5, x > 2
    y = np.where(hi, 1 / np.where(hi, x, 1.0), x)
    ys = np.where((lo | hi) & (y > 0), y, 0.25)
    refl = np.pi ** 2 / 6 - np.log(ys) * np.log1p(-ys) - ys * _cheb(  # spence(1 - ys)
        _SPENCE_MID, (4 * (1 - ys) - 5) / 3)
    xm = np.where(lo | hi, 1.0, x)
    mid = (1 - xm) * _cheb(_SPENCE_MID, (4 * xm - 5) / 3)
    out = np.where(hi, -refl - 0.5 * np.log(x) ** 2, np.where(lo, refl, mid))
    return np.where(x < 0, np.nan, np.where(x == 0, np.pi ** 2 / 6, out))


_verf = np.vectorize(_math.erf, otypes=[np.float64])
_verfc = np.vectorize(_math.erfc, otypes=[np.float64])


def _erf_np(x):
    return _verf(x) if x.size else x.copy()


def _erfc_np(x):
    return _verfc(x) if x.size else x.copy()


def _lgamma_np(a):
    bad = (a <= 0) & (a == np.floor(a))
    out = np.vectorize(_math.lgamma, otypes=[np.float64])(np.where(bad, 1.0, a)) \
        if a.size else a.astype(np.float64)
    return np.where(bad, np.inf, out)


def _psi_shift(x, power):
    """Reflection for x < 1/2, then the recurrence up to z >= 10: (z, accumulated terms)."""
    refl = x < 0.5
    z = np.where(refl, 1 - x, x)
    acc = np.zeros_like(z)
    while True:
        small = z < 10
        if not small.any():
            break
        zz = np.where(small, z, 1.0)
        acc += np.where(small, -1 / zz if power == 1 else 1 / (zz * zz), 0.0)
        z = np.where(small, z + 1, z)
    return refl, z, acc


def _digamma_np(x):
    x = np.asarray(x, np.float64)
    refl, z, acc = _psi_shift(x, 1)
    iz2 = 1 / (z * z)
    out = acc + np.log(z) - 0.5 / z - iz2 * (1 / 12 - iz2 * (1 / 120 - iz2 * (
        1 / 252 - iz2 * (1 / 240 - iz2 * (1 / 132 - iz2 * (691 / 32760 - iz2 / 12))))))
    out = np.where(refl, out - np.pi / np.tan(np.pi * x), out)
    out = np.where(np.isinf(x), np.where(x > 0, np.inf, np.nan), out)
    out = np.where(x == 0, np.copysign(np.inf, -x), out)
    return np.where((x < 0) & (x == np.floor(x)), np.nan, out)


def _trigamma_np(x):
    x = np.asarray(x, np.float64)
    refl, z, acc = _psi_shift(x, 2)
    iz = 1 / z
    iz2 = iz * iz
    out = acc + iz + 0.5 * iz2 + iz * iz2 * (1 / 6 - iz2 * (1 / 30 - iz2 * (
        1 / 42 - iz2 * (1 / 30 - iz2 * (5 / 66 - iz2 * (691 / 2730 - iz2 * 7 / 6))))))
    s = np.sin(np.pi * x)
    out = np.where(refl, np.pi ** 2 / (s * s) - out, out)
    out = np.where(np.isinf(x), np.where(x > 0, 0.0, np.nan), out)
    return np.where((x <= 0) & (x == np.floor(x)) & np.isfinite(x), np.inf, out)


def _ndtri_tail(q):
    """x < 0 with Phi(x) = q for q in (0, 1/2]: the A-S 26.2.23 start (|error| < 4.5e-4), then
    Newton steps on log Phi(x) = log q (nearly quadratic in the tail: 3 steps reach float64)."""
    lq = np.log(q)
    t = np.sqrt(-2 * lq)
    x = -(t - (2.515517 + t * (0.802853 + t * 0.010328)) /
          (1 + t * (1.432788 + t * (0.189269 + t * 0.001308))))
    for _ in range(3):
        phi = 0.5 * _erfc_np(-x * _R2)
        x = x - (np.log(phi) - lq) * phi / (np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi))
    return x


def _erfinv_mid(v):
    """erfinv(v) for |v| < 1/2 (relative accuracy down to 0): three terms of the Maclaurin
    series (error < 1e-3), then two Halley steps on erf(x) = v (cubic: 1e-3 -> 1e-9 -> 1e-27);
    with f = erf(x) - v, f' = 2/sqrt(pi) e^(-x^2) and f'' = -2x f', a step is f / (f' + x f)."""
    v2 = v * v
    x = np.sqrt(np.pi) / 2 * v * (1 + v2 * (np.pi / 12 + v2 * (7 * np.pi ** 2 / 480)))
    for _ in range(2):
        f = _erf_np(x) - v
        x = x - f / (2 / np.sqrt(np.pi) * np.exp(-x * x) + x * f)
    return x


def _ndtri_np(p):
    p = np.asarray(p, np.float64).reshape(-1)  # (the branches run on their elements only)
    out = np.where(p == 0, -np.inf, np.where(p == 1, np.inf, np.nan))
    v = 2 * p - 1  # exact for p in [1/4, 3/4]
    mid = np.abs(v) < 0.5
    out[mid] = np.sqrt(2) * _erfinv_mid(v[mid])
    tail = (p > 0) & (p < 1) & ~mid
    pt = p[tail]
    x = _ndtri_tail(np.minimum(pt, 1 - pt))
    out[tail] = np.where(pt > 0.5, -x, x)
    return out


def _erfinv_np(y):
    y = np.asarray(y, np.float64).reshape(-1)
    ay = np.abs(y)
    out = np.where(ay == 1, y * np.inf, np.nan)
    mid = ay < 0.5
    out[mid] = _erfinv_mid(y[mid])
    tail = (ay >= 0.5) & (ay < 1)
    yt = y[tail]
    out[tail] = -np.sign(yt) * _ndtri_tail((1 - np.abs(yt)) / 2) * _R2  # 1 - |y| exact here
    return out


_NP = {"lgamma": _lgamma_np, "digamma": _digamma_np, "trigamma": _trigamma_np,
       "erf": _erf_np, "erfc": _erfc_np, "erfinv": _erfinv_np, "ndtri": _ndtri_np,
       "bessel_i0": _i0_np, "bessel_i0e": _i0e_np, "bessel_i1": _i1_np, "bessel_i1e": _i1e_np,
       "bessel_k0": _k0_np, "bessel_k0e": _k0e_np, "bessel_k1": _k1_np, "bessel_k1e": _k1e_np,
       "bessel_j0": _j0_np, "bessel_j1": _j1_np, "bessel_y0": _y0_np, "bessel_y1": _y1_np,
       "dawsn": _dawsn_np, "expint": _expint_np, "fresnel_cos": _fresnel_cos_np,
       "fresnel_sin": _fresnel_sin_np, "spence": _spence_np}
OPS = tuple(_NP)  # the names special.cu's kernel and the emulator know


def special_np(op, a):
    """op on a host array (float32/float64), computed in float64, rounded to a's dtype."""
    a = np.asarray(a)
    with np.errstate(all="ignore"):
        return np.asarray(_NP[op](a.astype(np.float64))).reshape(a.shape).astype(a.dtype)


def _apply(op, a):
    """op on a raw array where it lives: the CUDA kernel for a DeviceArray, NumPy otherwise."""
    if type(a) is DeviceArray:
        return DeviceArray(backend().special(op, a.buf))
    return special_np(op, a)


# ------------------------------------------------------------------------------ the ops
class _Raw:  # derivative rules on raw arrays (the fast backward path)
    f = staticmethod(_apply)
    where = staticmethod(np.where)
    sign = staticmethod(np.sign)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)


class _Ten:  # the same rules with nabi ops on Tensors (differentiable: second order)
    @staticmethod
    def f(op, v):
        return _OPS[op](v)
    where = staticmethod(_a.where)
    sign = staticmethod(_m.sign)
    exp = staticmethod(_m.exp)
    log = staticmethod(_m.log)
    sin = staticmethod(_m.sin)
    cos = staticmethod(_m.cos)


def _float_in(op, x):
    x = t_(x)
    if x._data.dtype.kind != "f":
        raise TypeError(f"[{op}] expects a float32 or float64 tensor, got "
                        f"{x._data.dtype.name} of shape {tuple(x._data.shape)}")
    return x


def _op(op, x, deriv):
    """y = op(x) elementwise; deriv(ops, x, y) -> dy/dx, written once for both rule kinds."""
    x = _float_in(op, x)
    a = x._data
    out = _wrap(_apply(op, a))
    if _tapes and deriv is not None:
        def backward(g, needs):
            with np.errstate(all="ignore"):
                r = g * deriv(_Raw, a, out._data)
            return (r if r.dtype == g.dtype else r.astype(g.dtype),)

        def backward_t(g, needs):
            return (_m.multiply(g, deriv(_Ten, x, out)),)
        # digamma's derivative is trigamma, whose own derivative nabi lacks: a first-order rule
        # only, so that differentiating its gradient raises, naming digamma (never a silent 0)
        record((x,), out, backward, None if op == "digamma" else backward_t, op)
    return out


def _at0(ops, x, val):
    """val where x != 0, else 1/2 (the slope at 0 of I1, I1e and J1)."""
    return ops.where(x != 0, val, val * 0 + 0.5)


def _safe(ops, x):
    return ops.where(x != 0, x, x * 0 + 1)


def _safe1(ops, x):
    return ops.where(x != 1, x, x * 0 + 2)


_SQRT_PI = float(np.sqrt(np.pi))
_DERIV = {
    "lgamma": lambda o, x, y: o.f("digamma", x),
    "digamma": lambda o, x, y: o.f("trigamma", x),
    "trigamma": None,  # (internal: digamma's raw gradient only)
    "erf": lambda o, x, y: o.exp(-(x * x)) * (2 / _SQRT_PI),
    "erfc": lambda o, x, y: o.exp(-(x * x)) * (-2 / _SQRT_PI),
    "erfinv": lambda o, x, y: o.exp(y * y) * (_SQRT_PI / 2),
    "ndtri": lambda o, x, y: o.exp(y * y * 0.5) * float(np.sqrt(2 * np.pi)),
    "bessel_i0": lambda o, x, y: o.f("bessel_i1", x),
    "bessel_i0e": lambda o, x, y: o.f("bessel_i1e", x) - o.sign(x) * y,
    "bessel_i1": lambda o, x, y: _at0(o, x, o.f("bessel_i0", _safe(o, x)) - y / _safe(o, x)),
    "bessel_i1e": lambda o, x, y: _at0(o, x, o.f("bessel_i0e", _safe(o, x)) - y * (
        o.sign(x) + 1 / _safe(o, x))),
    "bessel_k0": lambda o, x, y: -o.f("bessel_k1", x),
    "bessel_k0e": lambda o, x, y: y - o.f("bessel_k1e", x),
    "bessel_k1": lambda o, x, y: -o.f("bessel_k0", x) - y / x,
    "bessel_k1e": lambda o, x, y: y * (1 - 1 / x) - o.f("bessel_k0e", x),
    "bessel_j0": lambda o, x, y: -o.f("bessel_j1", x),
    "bessel_j1": lambda o, x, y: _at0(o, x, o.f("bessel_j0", _safe(o, x)) - y / _safe(o, x)),
    "bessel_y0": lambda o, x, y: -o.f("bessel_y1", x),
    "bessel_y1": lambda o, x, y: o.f("bessel_y0", x) - y / x,
    "dawsn": lambda o, x, y: 1 - 2 * x * y,
    "expint": lambda o, x, y: o.exp(x) / x,
    "fresnel_cos": lambda o, x, y: o.cos(x * x * (np.pi / 2)),
    "fresnel_sin": lambda o, x, y: o.sin(x * x * (np.pi / 2)),
    "spence": lambda o, x, y: o.where(x != 1, o.log(_safe1(o, x)) / (1 - _safe1(o, x)),
                                           x * 0 - 1),
}


def _make(op, doc):
    def fn(x, name=None):
        return _op(op, x, _DERIV[op])
    fn.__name__ = fn.__qualname__ = op
    fn.__doc__ = doc
    return fn


lgamma = _make("lgamma", "log|Gamma(x)|; +inf at the poles (0, -1, -2, ...). Gradient: digamma.")
digamma = _make("digamma", "d/dx lgamma(x); NaN at the negative integers, -+inf at +-0. "
                "Gradient: trigamma (first order only).")
_trigamma = _make("trigamma", "psi'(x), the gradient of digamma (internal).")
erf = _make("erf", "The error function.")
erfc = _make("erfc", "1 - erf(x), accurate for large x.")
erfinv = _make("erfinv", "The inverse of erf on (-1, 1); +-inf at +-1, NaN outside.")
ndtri = _make("ndtri", "The inverse of the standard normal CDF on (0, 1); +-inf at 1 and 0.")
bessel_i0 = _make("bessel_i0", "The modified Bessel function of the first kind, order 0.")
bessel_i0e = _make("bessel_i0e", "e^-|x| I0(x).")
bessel_i1 = _make("bessel_i1", "The modified Bessel function of the first kind, order 1.")
bessel_i1e = _make("bessel_i1e", "e^-|x| I1(x).")
bessel_k0 = _make("bessel_k0", "The modified Bessel function of the second kind, order 0 "
                  "(x > 0; +inf at 0, NaN below).")
bessel_k0e = _make("bessel_k0e", "e^x K0(x).")
bessel_k1 = _make("bessel_k1", "The modified Bessel function of the second kind, order 1.")
bessel_k1e = _make("bessel_k1e", "e^x K1(x).")
bessel_j0 = _make("bessel_j0", "The Bessel function of the first kind, order 0.")
bessel_j1 = _make("bessel_j1", "The Bessel function of the first kind, order 1.")
bessel_y0 = _make("bessel_y0", "The Bessel function of the second kind, order 0 (x > 0; -inf "
                  "at 0, NaN below).")
bessel_y1 = _make("bessel_y1", "The Bessel function of the second kind, order 1.")
dawsn = _make("dawsn", "Dawson's integral F(x) = e^(-x^2) int_0^x e^(t^2) dt.")
expint = _make("expint", "The exponential integral Ei(x) for x > 0 (-inf at 0, NaN below, as "
               "TF; scipy.special.expi continues it below 0).")
fresnel_cos = _make("fresnel_cos", "The Fresnel integral C(x) = int_0^x cos(pi t^2 / 2) dt.")
fresnel_sin = _make("fresnel_sin", "The Fresnel integral S(x) = int_0^x sin(pi t^2 / 2) dt.")
spence = _make("spence", "Spence's function int_1^x log(t) / (1 - t) dt = Li2(1 - x), x >= 0.")

_OPS = {"lgamma": lgamma, "digamma": digamma, "trigamma": _trigamma, "erf": erf, "erfc": erfc,
        "erfinv": erfinv, "ndtri": ndtri, "bessel_i0": bessel_i0, "bessel_i0e": bessel_i0e,
        "bessel_i1": bessel_i1, "bessel_i1e": bessel_i1e, "bessel_k0": bessel_k0,
        "bessel_k0e": bessel_k0e, "bessel_k1": bessel_k1, "bessel_k1e": bessel_k1e,
        "bessel_j0": bessel_j0, "bessel_j1": bessel_j1, "bessel_y0": bessel_y0,
        "bessel_y1": bessel_y1, "dawsn": dawsn, "expint": expint, "fresnel_cos": fresnel_cos,
        "fresnel_sin": fresnel_sin, "spence": spence}

# tf.math.special (a module object, so `nabi.math.special.bessel_j0` and
# `import nabi.math.special` both work once nabi.math has imported it).
_SPECIAL_NAMES = ("bessel_i0", "bessel_i0e", "bessel_i1", "bessel_i1e", "bessel_j0",
                  "bessel_j1", "bessel_k0", "bessel_k0e", "bessel_k1", "bessel_k1e",
                  "bessel_y0", "bessel_y1", "dawsn", "expint", "fresnel_cos", "fresnel_sin",
                  "spence")
special = _types.ModuleType("nabi.math.special", "tf.math.special: the Bessel functions, "
                            "Dawson's integral, Ei, the Fresnel integrals and Spence's function.")
for _n in _SPECIAL_NAMES:
    setattr(special, _n, _OPS[_n])
special.__all__ = list(_SPECIAL_NAMES)
_sys.modules.setdefault("nabi.math.special", special)

__all__ = ["lgamma", "digamma", "erf", "erfc", "erfinv", "ndtri", "bessel_i0", "bessel_i0e",
           "bessel_i1", "bessel_i1e", "bessel_j0", "bessel_j1", "bessel_k0", "bessel_k0e",
           "bessel_k1", "bessel_k1e", "bessel_y0", "bessel_y1", "dawsn", "expint", "fresnel_cos",
           "fresnel_sin", "spence", "special"]
